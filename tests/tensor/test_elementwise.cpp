#include "test_util.h"

using namespace moco;
using namespace moco::testing;

static Tensor vec(std::vector<float> v, Shape s) { return Tensor::from_vector(v, s); }

TEST_CASE("broadcasting arithmetic") {
  Tensor a = vec({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor r = vec({10, 20, 30}, {3});
  Tensor c = vec({100, 200}, {2, 1});
  CHECK((a + r).to_vector<float>() == std::vector<float>{11, 22, 33, 14, 25, 36});
  CHECK((a * c).to_vector<float>() == std::vector<float>{100, 200, 300, 800, 1000, 1200});
  CHECK((c - r).shape() == Shape{2, 3});
  CHECK((a / 2).to_vector<float>() == std::vector<float>{0.5f, 1, 1.5f, 2, 2.5f, 3});
  CHECK((1.0 - a).to_vector<float>()[5] == -5);
  CHECK(rdiv(a, 6).to_vector<float>()[1] == 3);
  CHECK(maximum(a, vec({3}, {1})).to_vector<float>() == std::vector<float>{3, 3, 3, 4, 5, 6});
  CHECK(minimum(a, vec({3}, {1})).to_vector<float>() == std::vector<float>{1, 2, 3, 3, 3, 3});
  CHECK_THROWS_CONTAINS(a + vec({1, 2}, {2}), "add: shapes [2, 3] and [2] cannot be broadcast");
  CHECK_THROWS_CONTAINS(a + a.to(DType::f64), "dtype mismatch");
}

TEST_CASE("non-contiguous operands give the same answer as contiguous ones") {
  Tensor a = rnd({5, 7}, 1, DType::f32), b = rnd({7, 5}, 2, DType::f32);
  CHECK_CLOSE(a * b.t(), a * b.t().contiguous(), 0, 0);
  CHECK_CLOSE(exp(b.t()), exp(b.t().contiguous()), 0, 0);
  Tensor big = rnd({300, 200}, 3, DType::f32);  // large enough to run threaded
  CHECK_CLOSE(add(big.t(), big.t()), mul(big.t().contiguous(), 2.0), 0, 0);
}

TEST_CASE("unary functions match the C library") {
  Tensor x = vec({0.25f, 1, 2.5f}, {3});
  auto expect = [&](auto f) {
    std::vector<float> v;
    for (float e : x.to_vector<float>()) v.push_back(float(f(double(e))));
    return vec(v, {3});
  };
  CHECK_CLOSE(exp(x), expect([](double v) { return std::exp(v); }), 1e-6, 1e-6);
  CHECK_CLOSE(log(x), expect([](double v) { return std::log(v); }), 1e-6, 1e-6);
  CHECK_CLOSE(sqrt(x), expect([](double v) { return std::sqrt(v); }), 1e-6, 1e-6);
  CHECK_CLOSE(rsqrt(x), expect([](double v) { return 1 / std::sqrt(v); }), 1e-6, 1e-6);
  CHECK_CLOSE(pow(x, 3), expect([](double v) { return v * v * v; }), 1e-5, 1e-6);
  CHECK_CLOSE(tanh(x), expect([](double v) { return std::tanh(v); }), 1e-6, 1e-6);
  CHECK_CLOSE(sigmoid(x), expect([](double v) { return 1 / (1 + std::exp(-v)); }), 1e-6, 1e-6);
  CHECK_CLOSE(gelu(x), expect([](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }), 1e-6, 1e-6);
  CHECK(abs(vec({-2, 3}, {2})).to_vector<float>() == std::vector<float>{2, 3});
  CHECK(neg(vec({-2, 3}, {2})).to_vector<float>() == std::vector<float>{2, -3});
  CHECK(relu(vec({-2, 3}, {2})).to_vector<float>() == std::vector<float>{0, 3});
  CHECK(clamp(vec({-2, 0.5f, 3}, {3}), 0, 1).to_vector<float>() == std::vector<float>{0, 0.5f, 1});
}

TEST_CASE("comparisons and where") {
  Tensor a = vec({1, 2, 3}, {3}), b = vec({2, 2, 2}, {3});
  CHECK(eq(a, b).to_vector<float>() == std::vector<float>{0, 1, 0});
  CHECK(ne(a, b).to_vector<float>() == std::vector<float>{1, 0, 1});
  CHECK(lt(a, b).to_vector<float>() == std::vector<float>{1, 0, 0});
  CHECK(le(a, b).to_vector<float>() == std::vector<float>{1, 1, 0});
  CHECK(gt(a, b).to_vector<float>() == std::vector<float>{0, 0, 1});
  CHECK(ge(a, b).to_vector<float>() == std::vector<float>{0, 1, 1});
  CHECK(where(gt(a, 1.5), a, vec({0}, {1})).to_vector<float>() == std::vector<float>{0, 2, 3});
}

TEST_CASE("int64 tensors support integer arithmetic") {
  Tensor i = Tensor::from_vector(std::vector<int64_t>{1, 2, 3}, {3});
  CHECK((i + i).to_vector<int64_t>() == std::vector<int64_t>{2, 4, 6});
  CHECK(eq(i, Tensor::full({}, 2, DType::i64)).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 0});
  CHECK_THROWS_CONTAINS(exp(i), "floating");
}
