// float64 gradient checks of the neural-network functional ops.
#include "test_util.h"

using namespace moco;
using namespace moco::testing;
using V = std::vector<Tensor>;

TEST_CASE("gradcheck: relu and gelu") {
  Tensor x = away_from(rnd({3, 5}, 1), 0).requires_grad_();  // kink escape for relu
  CHECK_GRADCHECK([](const V& v) { return relu(v[0]); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return gelu(v[0]); }, V{leaf({3, 5}, 2)});
  CHECK_GRADCHECK([](const V& v) { return gelu(v[0]); }, V{leaf_transposed({3, 5}, 3)});
}

TEST_CASE("gradcheck: softmax and log_softmax along any dim") {
  Tensor x = leaf({3, 4, 5}, 4);
  for (int64_t d : {-1, 0, 1}) {
    CAPTURE(d);
    CHECK_GRADCHECK([d](const V& v) { return softmax(v[0], d); }, V{x});
    CHECK_GRADCHECK([d](const V& v) { return log_softmax(v[0], d); }, V{x});
  }
  CHECK_GRADCHECK([](const V& v) { return log_softmax(v[0], -1); }, V{leaf_transposed({4, 6}, 5)});
}

TEST_CASE("gradcheck: dropout with a fixed mask") {
  Tensor x = leaf({4, 6}, 6);
  CHECK_GRADCHECK([](const V& v) { Generator g(3); return dropout(v[0], 0.4, true, g); }, V{x});
  Generator g(3);
  Tensor y = dropout(Tensor::ones({10000}), 0.25, true, g);
  // kept values are scaled by 1/(1-p); the mean stays 1
  CHECK(mean(y).item() == doctest::Approx(1.0).epsilon(0.03));
  CHECK(amax(y).item() == doctest::Approx(1 / 0.75));
  Tensor same = dropout(x, 0.5, false, g);
  CHECK(same.same(x));
}

TEST_CASE("gradcheck: cross_entropy with and without label smoothing") {
  Tensor target = Tensor::from_vector(std::vector<int64_t>{2, 0, 4, 1}, {4});
  Tensor logits = leaf({4, 5}, 7);
  CHECK_GRADCHECK([&](const V& v) { return cross_entropy(v[0], target); }, V{logits});
  CHECK_GRADCHECK([&](const V& v) { return cross_entropy(v[0], target, 0.1); }, V{logits});
  CHECK_GRADCHECK([&](const V& v) { return cross_entropy(v[0], target); }, V{leaf_transposed({4, 5}, 8)});
}

TEST_CASE("cross_entropy values and errors") {
  Tensor logits = Tensor::from_vector(std::vector<double>{1, 2, 3, 1, 1, 1}, {2, 3});
  Tensor target = Tensor::from_vector(std::vector<int64_t>{2, 0}, {2});
  double lse0 = std::log(std::exp(1) + std::exp(2) + std::exp(3));
  double expect = ((lse0 - 3) + std::log(3.0)) / 2;
  CHECK(cross_entropy(logits, target).item() == doctest::Approx(expect).epsilon(1e-12));
  CHECK_THROWS_CONTAINS(cross_entropy(logits, Tensor::from_vector(std::vector<int64_t>{3, 0}, {2})),
                        "target[0] = 3 is not a class");
  CHECK_THROWS_CONTAINS(cross_entropy(logits, Tensor::zeros({2})), "int64");
}

TEST_CASE("gradcheck: normalize") {
  CHECK_GRADCHECK([](const V& v) { return normalize(v[0], 1); }, V{leaf({4, 5}, 9)});
  CHECK_GRADCHECK([](const V& v) { return normalize(v[0], 0); }, V{leaf({3, 2}, 10)});
  Tensor n = normalize(rnd({3, 8}, 11), 1);
  CHECK_CLOSE(sum(mul(n, n), {1}), Tensor::ones({3}, DType::f64), 1e-12, 1e-12);
}

TEST_CASE("normalize: an all-zero row has PyTorch's finite gradient") {
  // F.normalize(x) = x / max(||x||, eps): for a zero row the norm is clamped,
  // so d out / dx = I / eps there (torch gives exactly w / eps below).
  for (DType dt : {DType::f64, DType::f32}) {
    CAPTURE(dtype_name(dt));
    std::vector<double> xv = {0, 0, 0, 1, -2, 2};
    Tensor x = Tensor::from_vector(xv, {2, 3}).to(dt).requires_grad_();
    Tensor w = Tensor::from_vector(std::vector<double>{1, -2, 3, 0.5, 0.25, -1}, {2, 3}).to(dt);
    sum(mul(normalize(x, 1, 1e-3), w)).backward();
    auto gx = x.grad().to(DType::f64).to_vector<double>();
    for (double v : gx) CHECK(std::isfinite(v));
    CHECK(gx[0] == doctest::Approx(1e3).epsilon(1e-5));
    CHECK(gx[1] == doctest::Approx(-2e3).epsilon(1e-5));
    CHECK(gx[2] == doctest::Approx(3e3).epsilon(1e-5));
    // The non-zero row: (w - n (n.w)) / ||x|| with n = x / 3.
    const double nw = (1 * 0.5 - 2 * 0.25 + 2 * -1) / 3.0;
    CHECK(gx[3] == doctest::Approx((0.5 - 1 / 3.0 * nw) / 3).epsilon(1e-5));
    CHECK(gx[5] == doctest::Approx((-1 - 2 / 3.0 * nw) / 3).epsilon(1e-5));
  }
}

TEST_CASE("gradcheck: conv2d with stride, padding, dilation, groups and bias") {
  struct Case {
    Shape x, w;
    Conv2dOptions o;
    bool bias;
  };
  Conv2dOptions plain, strided, dilated, grouped;
  strided.stride_h = strided.stride_w = 2;
  strided.pad_h = strided.pad_w = 1;
  dilated.dil_h = dilated.dil_w = 2;
  dilated.pad_h = 2;
  dilated.pad_w = 1;
  grouped.groups = 2;
  grouped.pad_h = grouped.pad_w = 1;
  for (const Case& c : {Case{{2, 3, 5, 5}, {4, 3, 3, 3}, plain, true}, Case{{1, 2, 6, 5}, {3, 2, 3, 3}, strided, false},
                        Case{{1, 2, 7, 7}, {2, 2, 3, 2}, dilated, true}, Case{{2, 4, 4, 4}, {6, 2, 3, 3}, grouped, true},
                        Case{{1, 3, 4, 4}, {5, 3, 1, 1}, plain, false}}) {
    CAPTURE(shape_str(c.x));
    CAPTURE(shape_str(c.w));
    Tensor x = leaf(c.x, 12), w = leaf(c.w, 13), b = c.bias ? leaf({c.w[0]}, 14) : Tensor();
    Conv2dOptions o = c.o;
    CHECK_GRADCHECK([o](const V& v) { return conv2d(v[0], v[1], v[2], o); }, (V{x, w, b}));
  }
}

TEST_CASE("conv2d matches a direct sum and rejects bad shapes") {
  Tensor x = rnd({1, 2, 4, 4}, 15), w = rnd({3, 2, 3, 3}, 16);
  Conv2dOptions o;
  o.pad_h = o.pad_w = 1;
  Tensor y = conv2d(x, w, Tensor(), o);
  auto X = x.to_vector<double>(), W = w.to_vector<double>();
  double expect = 0;  // output (oc=1, y=0, x=2)
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        int iy = i - 1, ix = 2 + j - 1;
        if (iy < 0 || iy >= 4 || ix < 0 || ix >= 4) continue;
        expect += X[size_t((c * 4 + iy) * 4 + ix)] * W[size_t(((1 * 2 + c) * 3 + i) * 3 + j)];
      }
  CHECK(y.select(0, 0).select(0, 1).select(0, 0).select(0, 2).item() == doctest::Approx(expect).epsilon(1e-12));
  CHECK_THROWS_CONTAINS(conv2d(rnd({1, 3, 4, 4}, 1), w), "expects 2 input channels");
  CHECK_THROWS_CONTAINS(conv2d(rnd({1, 2, 2, 2}, 1), w), "too small");
}

TEST_CASE("gradcheck: pooling") {
  Tensor x = leaf({2, 2, 6, 6}, 17);
  CHECK_GRADCHECK([](const V& v) { return max_pool2d(v[0], 2, 2); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return max_pool2d(v[0], 3, 2, 1); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return avg_pool2d(v[0], 2, 2); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return avg_pool2d(v[0], 3, 2, 1); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return avg_pool2d(v[0], 3, 2, 1, false); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return adaptive_avg_pool2d(v[0], 1, 1); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return adaptive_avg_pool2d(v[0], 3, 3); }, V{x});
  CHECK_THROWS_CONTAINS(adaptive_avg_pool2d(x, 4, 4), "must divide");
}

TEST_CASE("pooling values") {
  Tensor x = Tensor::arange(0, 16).reshape({1, 1, 4, 4});
  CHECK(max_pool2d(x, 2, 2).to_vector<float>() == std::vector<float>{5, 7, 13, 15});
  CHECK(avg_pool2d(x, 2, 2).to_vector<float>() == std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f});
  // padded corners: with count_include_pad the zeros count, without they don't
  CHECK(avg_pool2d(x, 3, 2, 1, true).to_vector<float>()[0] == doctest::Approx((0 + 1 + 4 + 5) / 9.0));
  CHECK(avg_pool2d(x, 3, 2, 1, false).to_vector<float>()[0] == doctest::Approx((0 + 1 + 4 + 5) / 4.0));
}

TEST_CASE("gradcheck: batch_norm in training and evaluation, with and without affine") {
  Tensor x = leaf({4, 3, 2, 2}, 18), w = leaf({3}, 19), b = leaf({3}, 20);
  CHECK_GRADCHECK([](const V& v) { return batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true); }, (V{x, w, b}));
  CHECK_GRADCHECK([](const V& v) { return batch_norm(v[0], Tensor(), Tensor(), Tensor(), Tensor(), true); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true); },
                  (V{leaf({5, 3}, 21), w, b}));  // BatchNorm1d layout
  Tensor rm = rnd({3}, 22), rv = add(abs(rnd({3}, 23)), 0.5);
  CHECK_GRADCHECK([&](const V& v) { return batch_norm(v[0], rm, rv, v[1], v[2], false); }, (V{x, w, b}));
}

TEST_CASE("batch_norm updates running statistics like PyTorch") {
  Tensor x = rnd({8, 2, 3, 3}, 24);
  Tensor rm = Tensor::zeros({2}, DType::f64), rv = Tensor::ones({2}, DType::f64);
  batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.1);
  Tensor m = mean(x, {0, 2, 3}), v = var(x, {0, 2, 3}, true);  // running var is unbiased
  CHECK_CLOSE(rm, mul(m, 0.1), 1e-12, 1e-12);
  CHECK_CLOSE(rv, add(mul(v, 0.1), 0.9), 1e-12, 1e-12);
  // output of training mode has zero mean, unit (biased) variance per channel
  Tensor y = batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 0);
  CHECK_CLOSE(mean(y, {0, 2, 3}), Tensor::zeros({2}, DType::f64), 1e-12, 0);
  CHECK_CLOSE(var(y, {0, 2, 3}, false), Tensor::ones({2}, DType::f64), 1e-9, 0);
  CHECK_THROWS_CONTAINS(batch_norm(rnd({1, 2}, 1), Tensor(), Tensor(), Tensor(), Tensor(), true),
                        "more than 1 value per channel");
}

TEST_CASE("gradcheck: layer_norm") {
  Tensor x = leaf({2, 3, 4}, 25), w = leaf({4}, 26), b = leaf({4}, 27);
  CHECK_GRADCHECK([](const V& v) { return layer_norm(v[0], 1, v[1], v[2]); }, (V{x, w, b}));
  CHECK_GRADCHECK([](const V& v) { return layer_norm(v[0], 2, Tensor(), Tensor()); }, V{x});
  CHECK_GRADCHECK([](const V& v) { return layer_norm(v[0], 1, v[1], v[2]); }, (V{leaf_transposed({3, 4}, 28), w, b}));
  // Weight or bias alone, and affine parameters over two normalised dims.
  CHECK_GRADCHECK([](const V& v) { return layer_norm(v[0], 1, v[1], Tensor()); }, (V{x, w}));
  CHECK_GRADCHECK([](const V& v) { return layer_norm(v[0], 1, Tensor(), v[1]); }, (V{x, b}));
  Tensor w2 = leaf({3, 4}, 33), b2 = leaf({3, 4}, 34);
  CHECK_GRADCHECK([](const V& v) { return layer_norm(v[0], 2, v[1], v[2], 1e-3); }, (V{x, w2, b2}));
  // Parameters alone require grad (the input is data).
  Tensor data = rnd({5, 4}, 35);
  CHECK_GRADCHECK([data](const V& v) { return layer_norm(data, 1, v[0], v[1]); }, (V{w, b}));
  // Many rows: the dw/db sums run over several row blocks.
  Tensor big = leaf({300, 3}, 36), w3 = leaf({3}, 37), b3 = leaf({3}, 38);
  CHECK_GRADCHECK([](const V& v) { return layer_norm(v[0], 1, v[1], v[2]); }, (V{big, w3, b3}));
}

TEST_CASE("gradcheck: scaled dot-product attention") {
  Tensor q = leaf({2, 3, 4}, 29), k = leaf({2, 5, 4}, 30), v = leaf({2, 5, 2}, 31);
  CHECK_GRADCHECK([](const V& t) { return scaled_dot_product_attention(t[0], t[1], t[2]); }, (V{q, k, v}));
  Tensor q4 = leaf({1, 2, 3, 4}, 32);  // [batch, heads, L, d]
  CHECK_GRADCHECK([](const V& t) { return scaled_dot_product_attention(t[0], t[0], t[0]); }, V{q4});
  CHECK_THROWS_CONTAINS(scaled_dot_product_attention(q, rnd({2, 5, 3}, 1), v), "share the last dim");
}
