#include "test_util.h"

using namespace moco;
using namespace moco::testing;

static Tensor vec(std::vector<double> v) { return Tensor::from_vector(v, {int64_t(v.size())}); }

TEST_CASE("backward of a scalar fills leaf grads") {
  Tensor x = vec({1, 2, 3}).requires_grad_();
  Tensor y = sum(mul(x, x));
  y.backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2, 4, 6});
}

TEST_CASE("grads accumulate across backward calls and reset with zero_grad") {
  Tensor x = vec({1, 2}).requires_grad_();
  sum(mul(x, 3.0)).backward();
  sum(mul(x, 3.0)).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{6, 6});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("a tensor used twice gets both contributions") {
  Tensor x = vec({2}).requires_grad_();
  Tensor y = add(mul(x, x), mul(x, 5.0));  // dy/dx = 2x + 5
  sum(y).backward();
  CHECK(x.grad().item() == 9);
}

TEST_CASE("diamond graph and shared leaves across ops") {
  Tensor a = vec({1, 2}).requires_grad_(), b = vec({3, 4}).requires_grad_();
  Tensor c = mul(a, b);
  Tensor d = add(c, a);
  Tensor e = mul(c, d);  // e = ab(ab + a)
  sum(e).backward();
  // de/da = b(ab+a) + ab(b+1); de/db = a(ab+a) + ab·a
  CHECK(a.grad().to_vector<double>() == std::vector<double>{3 * 4 + 3 * 4, 4 * 10 + 8 * 5});
  CHECK(b.grad().to_vector<double>() == std::vector<double>{1 * 4 + 3, 2 * 10 + 8 * 2});
}

TEST_CASE("backward with an explicit gradient for a non-scalar root") {
  Tensor x = vec({1, 2, 3}).requires_grad_();
  Tensor y = mul(x, 2.0);
  CHECK_THROWS_CONTAINS(y.backward(), "not a scalar");
  y.backward(vec({1, 0, -1}));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2, 0, -2});
}

TEST_CASE("NoGradGuard and detach stop recording") {
  Tensor x = vec({1, 2}).requires_grad_();
  {
    NoGradGuard ng;
    Tensor y = mul(x, 2.0);
    CHECK_FALSE(y.requires_grad());
  }
  CHECK(GradMode::enabled());
  Tensor z = mul(x.detach(), 2.0);
  CHECK_FALSE(z.requires_grad());
  CHECK(z.storage().get() != nullptr);
  CHECK_THROWS_CONTAINS(sum(z).backward(), "does not require grad");
}

TEST_CASE("the graph is freed after backward; a second backward is an error") {
  Tensor x = vec({1, 2}).requires_grad_();
  Tensor y = sum(exp(x));
  y.backward();
  CHECK_THROWS_CONTAINS(y.backward(), "second time");
}

TEST_CASE("leaf grads do not alias each other") {
  // add's backward hands the same gradient to both inputs; accumulating
  // into one leaf must not change the other.
  Tensor a = vec({1}).requires_grad_(), b = vec({1}).requires_grad_();
  sum(add(a, b)).backward();
  sum(mul(a, 10.0)).backward();
  CHECK(a.grad().item() == 11);
  CHECK(b.grad().item() == 1);
}

TEST_CASE("a leaf takes a fresh gradient without a copy and copies one that is held elsewhere") {
  Tensor x = vec({1, 2}).requires_grad_();
  const void* fresh = nullptr;
  Tensor kept;
  auto probe = [&](bool keep) {
    Tensor out = Tensor::empty_like(x);
    {
      NoGradGuard ng;
      out.copy_(x);
    }
    record(out, "probe", {x}, [&, keep](const Tensor& g) {
      Tensor r = mul(g, 2.0);
      fresh = r.storage()->data();
      if (keep) kept = r;
      return std::vector<Tensor>{r};
    });
    return out;
  };
  sum(probe(false)).backward();
  CHECK(x.grad().storage()->data() == fresh);  // adopted
  x.zero_grad();
  sum(probe(true)).backward();
  CHECK(x.grad().storage()->data() != fresh);  // `kept` holds it: copied
  sum(mul(x, 3.0)).backward();                 // accumulates into x.grad only
  CHECK(x.grad().to_vector<float>() == std::vector<float>{5, 5});
  CHECK(kept.to_vector<float>() == std::vector<float>{2, 2});
}

TEST_CASE("views propagate gradients to their base") {
  Tensor x = Tensor::arange(0, 6, 1, DType::f64).requires_grad_();
  Tensor m = x.reshape({2, 3});
  Tensor y = sum(mul(m.t().select(0, 1), 10.0));  // column 1 of m: x[1], x[4]
  y.backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 10, 0, 0, 10, 0});
}

TEST_CASE("int64 tensors cannot require grad") {
  CHECK_THROWS_CONTAINS(Tensor::zeros({2}, DType::i64).requires_grad_(), "floating");
}

TEST_CASE("gradcheck catches a wrong backward and names the worst element") {
  // y = x^2 recorded with a deliberately wrong backward (x instead of 2x).
  auto wrong_square = [](const std::vector<Tensor>& v) {
    Tensor out = Tensor::empty_like(v[0]);
    {
      NoGradGuard ng;
      out.copy_(mul(v[0], v[0]));
    }
    record(out, "wrong_square", {v[0]}, [x = v[0].detach()](const Tensor& g) { return std::vector<Tensor>{mul(g, x)}; });
    return out;
  };
  GradcheckResult r = gradcheck(wrong_square, {leaf({5}, 3)});
  CHECK_FALSE(r.ok);
  CHECK(r.message.find("worst at flat index") != std::string::npos);
  GradcheckResult ok = gradcheck([](const std::vector<Tensor>& v) { return mul(v[0], v[0]); }, {leaf({5}, 3)});
  CHECK(ok.ok);
}

TEST_CASE("allclose reports the worst element") {
  Tensor a = Tensor::from_vector(std::vector<double>{1, 2, 3}, {3});
  Tensor b = Tensor::from_vector(std::vector<double>{1, 2.5, 3.001}, {3});
  CloseReport r = allclose(a, b, 1e-3, 0, "x");
  CHECK_FALSE(r.ok);
  CHECK(r.worst_index == 1);
  CHECK(r.message.find("1 of 3 elements") != std::string::npos);
  CHECK(allclose(a, b, 0.6, 0).ok);
  CHECK_FALSE(allclose(a, Tensor::zeros({2}, DType::f64), 1, 1).ok);
}
