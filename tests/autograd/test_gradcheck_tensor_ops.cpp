// float64 gradient checks of the tensor ops: elementwise (with broadcasting
// and non-contiguous inputs), reductions, matmul, views, indexing.
#include "test_util.h"

using namespace moco;
using namespace moco::testing;
using V = std::vector<Tensor>;

TEST_CASE("gradcheck: binary elementwise ops with broadcasting") {
  struct Case {
    Shape a, b;
  };
  for (Case c : {Case{{3, 4}, {3, 4}}, Case{{3, 4}, {4}}, Case{{2, 1, 4}, {3, 1}}, Case{{5}, {}}}) {
    CAPTURE(shape_str(c.a));
    CAPTURE(shape_str(c.b));
    Tensor a = leaf(c.a, 1), b = leaf(c.b, 2);
    CHECK_GRADCHECK([](const V& x) { return add(x[0], x[1]); }, (V{a, b}));
    CHECK_GRADCHECK([](const V& x) { return sub(x[0], x[1]); }, (V{a, b}));
    CHECK_GRADCHECK([](const V& x) { return mul(x[0], x[1]); }, (V{a, b}));
    Tensor bpos = add(abs(rnd(c.b, 3)), 0.5).detach().requires_grad_();  // keep the divisor away from 0
    CHECK_GRADCHECK([](const V& x) { return div(x[0], x[1]); }, (V{a, bpos}));
    CHECK_GRADCHECK([](const V& x) { return maximum(x[0], x[1]); }, (V{a, b}));
    CHECK_GRADCHECK([](const V& x) { return minimum(x[0], x[1]); }, (V{a, b}));
  }
}

TEST_CASE("gradcheck: binary ops on non-contiguous inputs") {
  Tensor a = leaf_transposed({4, 3}, 4), b = leaf({4, 3}, 5);
  CHECK_FALSE(a.is_contiguous());
  CHECK_GRADCHECK([](const V& x) { return mul(x[0], x[1]); }, (V{a, b}));
  CHECK_GRADCHECK([](const V& x) { return sub(x[0], exp(x[1])); }, (V{a, b}));
}

TEST_CASE("gradcheck: scalar and unary ops") {
  for (Shape s : {Shape{6}, Shape{2, 3, 2}}) {
    Tensor x = leaf(s, 7);
    Tensor pos = add(abs(rnd(s, 8)), 0.3).detach().requires_grad_();
    CHECK_GRADCHECK([](const V& v) { return add(v[0], 2.5); }, V{x});
    CHECK_GRADCHECK([](const V& v) { return mul(v[0], -1.5); }, V{x});
    CHECK_GRADCHECK([](const V& v) { return rsub(v[0], 2.0); }, V{x});
    CHECK_GRADCHECK([](const V& v) { return rdiv(v[0], 2.0); }, V{pos});
    CHECK_GRADCHECK([](const V& v) { return neg(v[0]); }, V{x});
    CHECK_GRADCHECK([](const V& v) { return exp(v[0]); }, V{x});
    CHECK_GRADCHECK([](const V& v) { return log(v[0]); }, V{pos});
    CHECK_GRADCHECK([](const V& v) { return sqrt(v[0]); }, V{pos});
    CHECK_GRADCHECK([](const V& v) { return rsqrt(v[0]); }, V{pos});
    CHECK_GRADCHECK([](const V& v) { return tanh(v[0]); }, V{x});
    CHECK_GRADCHECK([](const V& v) { return sigmoid(v[0]); }, V{x});
    CHECK_GRADCHECK([](const V& v) { return pow(v[0], 3); }, V{x});
    CHECK_GRADCHECK([](const V& v) { return pow(v[0], -1.5); }, V{pos});
    // kinks: |x| at 0, clamp at its bounds
    Tensor xa = away_from(rnd(s, 9), 0).requires_grad_();
    CHECK_GRADCHECK([](const V& v) { return abs(v[0]); }, V{xa});
    Tensor xc = away_from(away_from(rnd(s, 10), -0.5), 0.5).requires_grad_();
    CHECK_GRADCHECK([](const V& v) { return clamp(v[0], -0.5, 0.5); }, V{xc});
    CHECK_GRADCHECK([](const V& v) { return clamp_min(v[0], 0.5); }, V{xc});
  }
  Tensor t = leaf_transposed({3, 5}, 11);
  CHECK_GRADCHECK([](const V& v) { return exp(v[0]); }, V{t});
}

TEST_CASE("gradcheck: where") {
  Tensor cond = gt(rnd({3, 4}, 12), 0.0);
  Tensor a = leaf({3, 4}, 13), b = leaf({4}, 14);
  CHECK_GRADCHECK([&](const V& v) { return where(cond, v[0], v[1]); }, (V{a, b}));
}

TEST_CASE("gradcheck: reductions") {
  Tensor x = leaf({3, 4, 5}, 15);
  CHECK_GRADCHECK([](const V& v) { return sum(v[0]); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return sum(v[0], {1}); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return sum(v[0], {0, 2}, true); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return mean(v[0], {-1}); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return mean(v[0]); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return var(v[0], {1}); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return var(v[0], {0, 2}, false, true); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return amax(v[0], {2}); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return amin(v[0], {0, 1}, true); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return amax(v[0]); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return max(v[0], 1).first; }, V{x});
  CHECK_GRADCHECK([](const V& v) { return max(v[0], -1, true).first; }, V{x});
  CHECK_GRADCHECK([](const V& v) { return sum_to(v[0], {4, 1}); }, V{x});
  Tensor t = leaf_transposed({4, 6}, 16);
  CHECK_GRADCHECK([](const V& v) { return sum(v[0], {0}); }, V{t});
  CHECK_GRADCHECK([](const V& v) { return var(v[0], {1}); }, V{t});
}

TEST_CASE("gradcheck: matmul and linear") {
  CHECK_GRADCHECK([](const V& v) { return matmul(v[0], v[1]); }, (V{leaf({3, 4}, 1), leaf({4, 2}, 2)}));
  CHECK_GRADCHECK([](const V& v) { return matmul(v[0], v[1]); }, (V{leaf_transposed({3, 4}, 3), leaf_transposed({4, 2}, 4)}));
  CHECK_GRADCHECK([](const V& v) { return matmul(v[0], v[1]); }, (V{leaf({2, 3, 4}, 5), leaf({2, 4, 2}, 6)}));
  CHECK_GRADCHECK([](const V& v) { return matmul(v[0], v[1]); }, (V{leaf({2, 1, 3, 4}, 7), leaf({3, 4, 2}, 8)}));
  CHECK_GRADCHECK([](const V& v) { return matmul(v[0], v[1]); }, (V{leaf({2, 3, 4}, 9), leaf({4, 5}, 10)}));
  CHECK_GRADCHECK([](const V& v) { return matmul(v[0], v[1]); }, (V{leaf({4}, 11), leaf({4, 3}, 12)}));
  CHECK_GRADCHECK([](const V& v) { return matmul(v[0], v[1]); }, (V{leaf({3, 4}, 13), leaf({4}, 14)}));
  CHECK_GRADCHECK([](const V& v) { return matmul(v[0], v[1]); }, (V{leaf({4}, 15), leaf({4}, 16)}));
  CHECK_GRADCHECK([](const V& v) { return matmul(v[0], v[1].transpose(-1, -2)); }, (V{leaf({2, 3, 4}, 17), leaf({2, 5, 4}, 18)}));
  CHECK_GRADCHECK([](const V& v) { return linear(v[0], v[1], v[2]); }, (V{leaf({3, 4}, 19), leaf({2, 4}, 20), leaf({2}, 21)}));
  CHECK_GRADCHECK([](const V& v) { return linear(v[0], v[1]); }, (V{leaf({2, 3, 4}, 22), leaf({5, 4}, 23)}));
  // linear's own backward: 3-D input with bias, a 1-D input, a transposed
  // input, the weight alone requiring grad, a bias that broadcasts the output up.
  CHECK_GRADCHECK([](const V& v) { return linear(v[0], v[1], v[2]); }, (V{leaf({2, 3, 4}, 24), leaf({5, 4}, 25), leaf({5}, 26)}));
  CHECK_GRADCHECK([](const V& v) { return linear(v[0], v[1], v[2]); }, (V{leaf({4}, 27), leaf({3, 4}, 28), leaf({3}, 29)}));
  CHECK_GRADCHECK([](const V& v) { return linear(v[0], v[1], v[2]); }, (V{leaf_transposed({3, 4}, 30), leaf({2, 4}, 31), leaf({1, 2}, 32)}));
  Tensor data = rnd({3, 4}, 33);
  CHECK_GRADCHECK([data](const V& v) { return linear(data, v[0], v[1]); }, (V{leaf({2, 4}, 34), leaf({2}, 35)}));
  CHECK_GRADCHECK([](const V& v) { return linear(v[0], v[1], v[2]); }, (V{leaf({3, 4}, 36), leaf({2, 4}, 37), leaf({5, 1, 2}, 38)}));
}

TEST_CASE("gradcheck: views") {
  Tensor x = leaf({2, 3, 4}, 24);
  CHECK_GRADCHECK([](const V& v) { return v[0].reshape({6, 4}); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return v[0].view({4, -1}); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return v[0].flatten(1); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return v[0].permute({2, 0, 1}); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return v[0].transpose(0, 2); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return v[0].select(1, 2).t(); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return v[0].narrow(2, 1, 2); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return v[0].slice(2, 0, 4, 2); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return v[0].unsqueeze(1).squeeze(1); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return v[0].unsqueeze(0).squeeze(); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return v[0].unsqueeze(1).expand({2, 5, 3, 4}); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return v[0].permute({1, 0, 2}).contiguous(); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return v[0].clone(); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return v[0].permute({2, 1, 0}).reshape({-1}); }, V{x});
  // Through float32 the differences need a step float32 can resolve; the map is linear, so a large step is exact.
  GradcheckOptions coarse;
  coarse.eps = 1e-2;
  CHECK_GRADCHECK_OPT([](const V& v) { return v[0].to(DType::f32).to(DType::f64); },
                      V{Tensor::from_vector(std::vector<double>{0.5, 1.25}, {2}).requires_grad_()}, coarse);
}

TEST_CASE("gradcheck: indexing and joining") {
  Tensor x = leaf({4, 3}, 25);
  Tensor perm = Tensor::from_vector(std::vector<int64_t>{2, 0, 3, 1}, {4});
  Tensor rep = Tensor::from_vector(std::vector<int64_t>{1, 1, 0}, {3});
  CHECK_GRADCHECK([&](const V& v) { return index_select(v[0], 0, perm); }, V{x});
  CHECK_GRADCHECK([&](const V& v) { return index_select(v[0], 1, rep); }, V{x});  // repeated indices add up
  Tensor gidx = Tensor::from_vector(std::vector<int64_t>{2, 0, 1, 1, 0, 0, 2, 2}, {4, 2});
  CHECK_GRADCHECK([&](const V& v) { return gather(v[0], 1, gidx); }, V{x});
  CHECK_GRADCHECK([&](const V& v) { return scatter_add(v[0], 1, gidx, v[1]); }, (V{x, leaf({4, 2}, 26)}));
  Tensor rows = Tensor::from_vector(std::vector<int64_t>{3, 1}, {2});
  CHECK_GRADCHECK([&](const V& v) { return index_copy(v[0], 0, rows, v[1]); }, (V{x, leaf({2, 3}, 27)}));
  CHECK_GRADCHECK([](const V& v) { return cat({v[0], v[1]}, 0); }, (V{x, leaf({2, 3}, 28)}));
  CHECK_GRADCHECK([](const V& v) { return cat({v[0], v[1], v[0]}, 1); }, (V{x, leaf({4, 1}, 29)}));
  CHECK_GRADCHECK([](const V& v) { return stack({v[0], v[1]}, 1); }, (V{x, leaf({4, 3}, 30)}));
  CHECK_GRADCHECK([](const V& v) { return mul(split(v[0], 3, 0)[1], 2.0); }, V{x});
  CHECK_GRADCHECK([](const V& v) { auto c = chunk(v[0], 3, 1); return add(c[0], c[2]); }, V{x});
  CHECK_GRADCHECK([&](const V& v) { return index_select(v[0], 0, perm); }, V{leaf_transposed({4, 3}, 31)});
}
