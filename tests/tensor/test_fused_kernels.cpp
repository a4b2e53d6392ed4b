// The fused kernels of the training step's hot ops against plain double
// references: the float32 erf/GELU approximation, the relu/gelu backward
// primitives and the layer-norm kernels (forward, backward, determinism of
// the dw/db row sums across thread counts), softmax on the fast exp, and
// sums over leading dims on the column-sum kernel.
#include <cmath>
#include <vector>

#include "tensor/backend.h"
#include "tensor/cpu/fast_math.h"
#include "test_util.h"

using namespace moco;
using namespace moco::testing;

namespace {

double phi_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }
double gelu_ref(double x) { return x * phi_cdf(x); }
double gelu_grad_ref(double x) { return phi_cdf(x) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI); }

Backend& cpu_be() { return backend_for(Device::cpu()); }

}  // namespace

TEST_CASE("float32 erf of the GELU kernels: within 1.5e-7 of erf on a dense grid over [-10, 10]") {
  double worst = 0, worst_x = 0;
  for (int64_t i = -2000000; i <= 2000000; ++i) {  // step 5e-6, and every split point's neighbourhood
    const float x = float(double(i) * 5e-6);
    const double err = std::abs(double(cpu::fast::erf(x)) - std::erf(double(x)));
    if (err > worst) worst = err, worst_x = x;
  }
  for (float x : {0.0f, -0.0f, 0.8f, std::nextafter(0.8f, 0.0f), 3.92f, 4.0f, 9.9f, -1e30f, 1e30f}) {
    const double err = std::abs(double(cpu::fast::erf(x)) - std::erf(double(x)));
    if (err > worst) worst = err, worst_x = x;
  }
  CAPTURE(worst_x);
  CHECK(worst <= 1.5e-7);
  CHECK(cpu::fast::erf(-0.0f) == 0.0f);
  CHECK(cpu::fast::erf(-2.0f) == -cpu::fast::erf(2.0f));  // odd, bit for bit

  // exp(-t) over the float range it serves, relative error.
  double worst_exp = 0;
  for (int64_t i = 0; i <= 870000; ++i) {
    const float t = float(double(i) * 1e-4);
    worst_exp = std::max(worst_exp, std::abs(double(cpu::fast::exp_neg(t)) / std::exp(-double(t)) - 1));
  }
  CHECK(worst_exp <= 2e-7);
  CHECK(cpu::fast::exp_neg(87.5f) == 0.0f);  // past the float range: 0, not garbage
  CHECK(cpu::fast::exp_neg(INFINITY) == 0.0f);
  CHECK(std::isnan(cpu::fast::exp_neg(NAN)));
  CHECK(std::isnan(cpu::fast::erf(NAN)));
  CHECK(cpu::fast::exp_neg(-1.0f) == doctest::Approx(std::exp(1.0)).epsilon(2e-7));  // slightly negative t works

  // The normal CDF keeps relative accuracy in the left tail (no 1 + erf cancellation).
  double worst_tail = 0;
  for (double x = -5.5; x <= 0; x += 1e-3) {
    float e;
    const double cdf = cpu::fast::normal_cdf(float(x), e);
    worst_tail = std::max(worst_tail, std::abs(cdf / phi_cdf(double(float(x))) - 1));
  }
  CHECK(worst_tail <= 2e-6);
}

TEST_CASE("gelu and its fused backward primitive: float32 approximation, float64 exact") {
  const int64_t n = 200001;  // [-10, 10] step 1e-4
  Tensor xd = Tensor::arange(-10, 10.00005, 1e-4, DType::f64);
  REQUIRE(xd.numel() == n);
  Tensor gd = rnd({n}, 3);
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dt));
    Tensor x = xd.to(dt), g = gd.to(dt);
    Tensor y = Tensor::empty({n}, dt), dx = Tensor::empty({n}, dt);
    cpu_be().unary(UnaryOp::gelu, y, x);
    cpu_be().binary(BinaryOp::gelu_backward, dx, g, x);
    const std::vector<double> xv = x.to_vector<double>(), gv = g.to_vector<double>();
    const std::vector<double> yv = y.to_vector<double>(), dxv = dx.to_vector<double>();
    double worst_y = 0, worst_dx = 0;
    for (int64_t i = 0; i < n; ++i) {
      worst_y = std::max(worst_y, std::abs(yv[i] - gelu_ref(xv[i])) / std::max(1.0, std::abs(xv[i])));
      worst_dx = std::max(worst_dx, std::abs(dxv[i] - gv[i] * gelu_grad_ref(xv[i])) / std::max(1.0, std::abs(gv[i])));
    }
    // float32: ~1 ulp of the result's scale; float64: libm's erf.
    CHECK(worst_y <= (dt == DType::f32 ? 3e-7 : 1e-15));
    CHECK(worst_dx <= (dt == DType::f32 ? 4e-7 : 1e-15));
  }
  // Through autograd: gelu's gradient is the fused primitive's result.
  Tensor x = rnd({7, 9}, 4, DType::f32).requires_grad_();
  Tensor w = rnd({7, 9}, 5, DType::f32);
  sum(mul(gelu(x), w)).backward();
  Tensor expect = Tensor::empty({7, 9}, DType::f32);
  cpu_be().binary(BinaryOp::gelu_backward, expect, w, x.detach());
  CHECK_CLOSE(x.grad(), expect, 0, 0);
  CHECK_THROWS_CONTAINS(cpu_be().binary(BinaryOp::gelu_backward, Tensor::empty({2}, DType::i64),
                                     Tensor::zeros({2}, DType::i64), Tensor::zeros({2}, DType::i64)),
                        "needs a floating tensor");
}

TEST_CASE("relu_backward passes the gradient where the output is positive, on strided operands") {
  Tensor y = Tensor::from_vector(std::vector<float>{-1, 0, 2, 3, 0.5f, -0.0f}, {2, 3});
  Tensor g = Tensor::from_vector(std::vector<float>{10, 20, 30, 40, 50, 60}, {3, 2}).t();  // transposed
  Tensor out = Tensor::empty({2, 3});
  cpu_be().binary(BinaryOp::relu_backward, out, g, y);
  CHECK(out.to_vector<float>() == std::vector<float>{0, 0, 50, 20, 40, 0});
  Tensor yi = Tensor::from_vector(std::vector<int64_t>{-1, 0, 5}, {3});
  Tensor gi = Tensor::from_vector(std::vector<int64_t>{7, 8, 9}, {3});
  Tensor oi = Tensor::empty({3}, DType::i64);
  cpu_be().binary(BinaryOp::relu_backward, oi, gi, yi);
  CHECK(oi.to_vector<int64_t>() == std::vector<int64_t>{0, 0, 9});
  // relu's autograd uses it: the gradient is 0 at the kink, as PyTorch.
  Tensor x = Tensor::from_vector(std::vector<float>{-1, 0, 2}, {3}).requires_grad_();
  sum(mul(relu(x), Tensor::from_vector(std::vector<float>{5, 6, 7}, {3}))).backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{0, 0, 7});
}

namespace {

// Double-precision layer norm of x [rows, len] and its gradients, plain loops.
struct LnRef {
  std::vector<double> y, mean, rstd, dx, dw, db;
};
LnRef ln_ref(const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>& b,
             const std::vector<double>& g, int64_t rows, int64_t len, double eps) {
  LnRef r;
  r.y.resize(x.size());
  r.dx.resize(x.size());
  r.dw.assign(size_t(len), 0);
  r.db.assign(size_t(len), 0);
  for (int64_t i = 0; i < rows; ++i) {
    const double* xr = &x[size_t(i * len)];
    double m = 0, v = 0;
    for (int64_t j = 0; j < len; ++j) m += xr[j];
    m /= double(len);
    for (int64_t j = 0; j < len; ++j) v += (xr[j] - m) * (xr[j] - m);
    const double rs = 1 / std::sqrt(v / double(len) + eps);
    r.mean.push_back(m);
    r.rstd.push_back(rs);
    double a = 0, c = 0;
    for (int64_t j = 0; j < len; ++j) {
      const double xh = (xr[j] - m) * rs, gj = g[size_t(i * len + j)];
      r.y[size_t(i * len + j)] = xh * w[size_t(j)] + b[size_t(j)];
      a += gj * w[size_t(j)];
      c += gj * w[size_t(j)] * xh;
      r.dw[size_t(j)] += gj * xh;
      r.db[size_t(j)] += gj;
    }
    for (int64_t j = 0; j < len; ++j) {
      const double xh = (xr[j] - m) * rs, gj = g[size_t(i * len + j)];
      r.dx[size_t(i * len + j)] = rs * (gj * w[size_t(j)] - a / double(len) - xh * c / double(len));
    }
  }
  return r;
}

Tensor as(const std::vector<double>& v, const Shape& s, DType dt) { return Tensor::from_vector(v, s).to(dt); }

}  // namespace

TEST_CASE("layer_norm kernels against a double reference, with and without weight and bias") {
  struct Case {
    int64_t rows, len;
  };
  // 5000 x 16 spans several row blocks of the dw/db sums and runs on threads.
  for (Case c : {Case{3, 5}, Case{70, 192}, Case{5000, 16}, Case{1, 1}})
    for (DType dt : {DType::f32, DType::f64})
      for (bool affine : {true, false}) {
        CAPTURE(c.rows);
        CAPTURE(c.len);
        CAPTURE(dtype_name(dt));
        CAPTURE(affine);
        const Shape s{c.rows, c.len};
        // Mean 3: the variance must not lose digits to it.
        Tensor x = add(mul(rnd(s, 10), 2.0), 3.0).to(dt), g = rnd(s, 11).to(dt);
        Tensor w = affine ? rnd({c.len}, 12).to(dt) : Tensor(), b = affine ? rnd({c.len}, 13).to(dt) : Tensor();
        std::vector<double> wv = affine ? w.to_vector<double>() : std::vector<double>(size_t(c.len), 1.0);
        std::vector<double> bv = affine ? b.to_vector<double>() : std::vector<double>(size_t(c.len), 0.0);
        const LnRef ref = ln_ref(x.to_vector<double>(), wv, bv, g.to_vector<double>(), c.rows, c.len, 1e-5);
        Tensor y = Tensor::empty(s, dt), mean = Tensor::empty({c.rows}, dt), rstd = Tensor::empty({c.rows}, dt);
        cpu_be().layer_norm(y, mean, rstd, x, w, b, 1e-5);
        const double tol = dt == DType::f32 ? 1e-5 : 1e-12;
        CHECK_CLOSE(y, as(ref.y, s, dt), tol, tol);
        CHECK_CLOSE(mean, as(ref.mean, {c.rows}, dt), tol, tol);
        CHECK_CLOSE(rstd, as(ref.rstd, {c.rows}, dt), tol, tol);
        Tensor dx = Tensor::empty(s, dt), dw = Tensor::empty({c.len}, dt), db = Tensor::empty({c.len}, dt);
        // mean and rstd from the reference: the backward is checked on its own.
        Tensor m_in = as(ref.mean, {c.rows}, dt), r_in = as(ref.rstd, {c.rows}, dt);
        cpu_be().layer_norm_backward(dx, dw, db, g, x, m_in, r_in, w);
        CHECK_CLOSE(dx, as(ref.dx, s, dt), tol * 10, tol);
        // dw/db sum `rows` terms: the float32 tolerance scales with sqrt(rows).
        const double tol_sum = tol * 10 * std::sqrt(double(c.rows));
        CHECK_CLOSE(dw, as(ref.dw, {c.len}, dt), tol_sum, tol);
        CHECK_CLOSE(db, as(ref.db, {c.len}, dt), tol_sum, tol);
        // Only the gradients asked for are written.
        Tensor dw_only = Tensor::full({c.len}, 7.0, dt), dx_none;
        cpu_be().layer_norm_backward(dx_none, dw_only, Tensor(), g, x, m_in, r_in, w);
        CHECK_CLOSE(dw_only, dw, 0, 0);
      }
}

TEST_CASE("layer_norm's dw and db are the same bits for any thread count") {
  const int threads = get_num_threads();
  const Shape s{4160, 192};  // ViT-Tiny, batch 64: several blocks, parallel
  Tensor x = rnd(s, 20, DType::f32), g = rnd(s, 21, DType::f32), w = rnd({192}, 22, DType::f32);
  Tensor mean = Tensor::empty({4160}), rstd = Tensor::empty({4160}), y = Tensor::empty(s);
  cpu_be().layer_norm(y, mean, rstd, x, w, Tensor(), 1e-6);
  std::vector<std::vector<float>> dws, dbs, dxs;
  for (int n : {1, 2, 3}) {
    set_num_threads(n);
    Tensor dx = Tensor::empty(s), dw = Tensor::empty({192}), db = Tensor::empty({192});
    cpu_be().layer_norm_backward(dx, dw, db, g, x, mean, rstd, w);
    dws.push_back(dw.to_vector<float>());
    dbs.push_back(db.to_vector<float>());
    dxs.push_back(dx.to_vector<float>());
  }
  set_num_threads(threads);
  for (size_t i = 1; i < dws.size(); ++i) {
    CHECK(dws[i] == dws[0]);
    CHECK(dbs[i] == dbs[0]);
    CHECK(dxs[i] == dxs[0]);
  }
}

TEST_CASE("softmax and log_softmax in float32 against double, with -inf (masked) and NaN entries") {
  Tensor x64 = mul(rnd({40, 301}, 30), 8.0);  // logits spread over ~±30: tiny probabilities too
  for (bool log : {false, true}) {
    CAPTURE(log);
    Tensor y32 = Tensor::empty({40, 301}), y64 = Tensor::empty({40, 301}, DType::f64);
    cpu_be().softmax(y32, x64.to(DType::f32), log);
    cpu_be().softmax(y64, x64, log);
    CHECK_CLOSE(y32, y64.to(DType::f32), log ? 2e-5 : 1e-7, 1e-6);
    Tensor g = rnd({40, 301}, 31), dx32 = Tensor::empty({40, 301}), dx64 = Tensor::empty({40, 301}, DType::f64);
    cpu_be().softmax_backward(dx32, y64.to(DType::f32), g.to(DType::f32), log);
    cpu_be().softmax_backward(dx64, y64, g, log);
    CHECK_CLOSE(dx32, dx64.to(DType::f32), 1e-5, 1e-5);
  }
  Tensor masked = Tensor::from_vector(std::vector<float>{1, -INFINITY, 2, -INFINITY}, {1, 4});
  Tensor y = Tensor::empty({1, 4});
  cpu_be().softmax(y, masked, false);
  const std::vector<float> v = y.to_vector<float>();
  CHECK(v[1] == 0.0f);
  CHECK(v[3] == 0.0f);
  CHECK(v[0] == doctest::Approx(1 / (1 + std::exp(1.0))).epsilon(1e-6));
  Tensor with_nan = Tensor::from_vector(std::vector<float>{1, NAN, 2}, {1, 3}), yn = Tensor::empty({1, 3});
  for (bool log : {false, true}) {
    cpu_be().softmax(yn, with_nan, log);
    for (float e : yn.to_vector<float>()) CHECK(std::isnan(e));
  }
}

TEST_CASE("sums over leading dims read columns in place: float32, float64 and int64, any thread count") {
  // [5000, 7]: several row blocks; [3, 4, 5] over dims 0 and 1; keepdim.
  Tensor a = add(rnd({5000, 7}, 40), 100.0);  // a large mean: float32 accumulation would show
  std::vector<double> ref(7, 0.0);
  const std::vector<double> av = a.to_vector<double>();
  for (int64_t i = 0; i < 5000; ++i)
    for (int64_t j = 0; j < 7; ++j) ref[size_t(j)] += av[size_t(i * 7 + j)];
  CHECK_CLOSE(sum(a, {0}), Tensor::from_vector(ref, {7}), 1e-9, 1e-13);
  std::vector<float> s32 = sum(a.to(DType::f32), {0}).to_vector<float>();
  for (int64_t j = 0; j < 7; ++j) CHECK(s32[size_t(j)] == float(sum(a.to(DType::f32).to(DType::f64).select(1, j)).item()));
  Tensor b = rnd({3, 4, 5}, 41);
  CHECK_CLOSE(sum(b, {0, 1}), sum(sum(b.transpose(0, 2).contiguous(), {2}), {1}), 1e-12, 1e-12);
  CHECK(sum(b, {1, 0}, true).shape() == Shape{1, 1, 5});
  Tensor i = Tensor::from_vector(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {3, 2});
  CHECK(sum(i, {0}).to_vector<int64_t>() == std::vector<int64_t>{9, 12});
  CHECK(sum(Tensor::zeros({0, 3}), {0}).to_vector<float>() == std::vector<float>{0, 0, 0});
  // The same bits for every thread count.
  Tensor big = rnd({4160, 192}, 42, DType::f32);
  const int threads = get_num_threads();
  std::vector<std::vector<float>> outs;
  for (int n : {1, 2, 3}) {
    set_num_threads(n);
    Tensor out = Tensor::empty({192});
    cpu_be().sum_cols(out, big);
    outs.push_back(out.to_vector<float>());
  }
  set_num_threads(threads);
  CHECK(outs[1] == outs[0]);
  CHECK(outs[2] == outs[0]);
  // The gradient of a broadcast add (a bias) sums over the leading dims.
  Tensor x = rnd({6, 5, 4}, 43).requires_grad_(), bias = rnd({4}, 44).requires_grad_();
  sum(mul(add(x, bias), rnd({6, 5, 4}, 45))).backward();
  CHECK_CLOSE(bias.grad(), sum(rnd({6, 5, 4}, 45).reshape({30, 4}).t().contiguous(), {1}), 1e-12, 1e-12);
}

TEST_CASE("im2col and col2im against naive loops: strides, padding wider than the kernel reach, dilation") {
  struct G {
    int64_t C, H, W, kh, kw, sh, sw, ph, pw, dh, dw;
  };
  const G geoms[] = {{2, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1}, {3, 7, 8, 3, 2, 2, 2, 1, 0, 1, 1}, {1, 6, 9, 2, 3, 1, 3, 2, 4, 2, 2},
                     {2, 4, 4, 1, 1, 1, 1, 0, 0, 1, 1}, {1, 3, 3, 3, 3, 1, 1, 5, 5, 1, 1}, {2, 8, 5, 5, 3, 3, 2, 2, 1, 1, 2}};
  for (const G& q : geoms) {
    CAPTURE(q.W);
    CAPTURE(q.sw);
    CAPTURE(q.pw);
    const int64_t oh = (q.H + 2 * q.ph - q.dh * (q.kh - 1) - 1) / q.sh + 1;
    const int64_t ow = (q.W + 2 * q.pw - q.dw * (q.kw - 1) - 1) / q.sw + 1;
    const int64_t ld = oh * ow + 3;  // columns of another image beside these
    const Backend::ConvGeom g{q.C, q.H, q.W, q.kh, q.kw, q.sh, q.sw, q.ph, q.pw, q.dh, q.dw, oh, ow, ld};
    Tensor img = rnd({q.C, q.H, q.W}, 50);
    Tensor cols = Tensor::full({q.C * q.kh * q.kw, ld}, 7.0, DType::f64);
    cpu_be().im2col(cols, img, g);
    Tensor dcols = rnd({q.C * q.kh * q.kw, ld}, 51), dimg = Tensor::ones({q.C, q.H, q.W}, DType::f64);
    cpu_be().col2im(dimg, dcols, g);  // accumulates onto the ones
    std::vector<double> want_cols = cols.to_vector<double>(), want_img(size_t(q.C * q.H * q.W), 1.0);
    const std::vector<double> iv = img.to_vector<double>(), dc = dcols.to_vector<double>();
    for (int64_t c = 0; c < q.C; ++c)
      for (int64_t ki = 0; ki < q.kh; ++ki)
        for (int64_t kj = 0; kj < q.kw; ++kj)
          for (int64_t y = 0; y < oh; ++y)
            for (int64_t x = 0; x < ow; ++x) {
              const int64_t r = (c * q.kh + ki) * q.kw + kj, iy = y * q.sh - q.ph + ki * q.dh,
                            ix = x * q.sw - q.pw + kj * q.dw;
              const bool inside = iy >= 0 && iy < q.H && ix >= 0 && ix < q.W;
              const size_t at = size_t(r * ld + y * ow + x), pix = size_t((c * q.H + iy) * q.W + ix);
              want_cols[at] = inside ? iv[pix] : 0.0;
              if (inside) want_img[pix] += dc[at];
            }
    CHECK(cols.to_vector<double>() == want_cols);  // also: the 3 columns past oh*ow left alone
    CHECK_CLOSE(dimg, Tensor::from_vector(want_img, {q.C, q.H, q.W}), 1e-12, 1e-12);
  }
}

TEST_CASE("im2col and col2im over several images in one call equal one call per image") {
  // conv2d hands a chunk of a batch to one call (ConvGeom.images); image i's
  // columns start at column i*oh*ow and its pixels img_stride elements on.
  const int64_t C = 3, H = 7, W = 6, n = 4, stride = C * H * W + 5;  // padding between images
  Backend::ConvGeom g{C, H, W, 3, 3, 2, 1, 1, 1, 1, 1, 0, 0, 0};
  g.oh = (H + 2 - 2 - 1) / 2 + 1;
  g.ow = (W + 2 - 2 - 1) / 1 + 1;
  const int64_t L = g.oh * g.ow, rows = C * 9;
  g.col_ld = n * L + 2;
  Tensor imgs = rnd({n * stride}, 60);
  Tensor batched = Tensor::full({rows, g.col_ld}, 7.0, DType::f64), single = batched.clone();
  Backend::ConvGeom gb = g;
  gb.images = n;
  gb.img_stride = stride;
  cpu_be().im2col(batched, imgs.narrow(0, 0, C * H * W).view({C, H, W}), gb);
  for (int64_t i = 0; i < n; ++i)
    cpu_be().im2col(make_view(single, {rows, L}, {g.col_ld, 1}, i * L),
                    imgs.narrow(0, i * stride, C * H * W).view({C, H, W}), g);
  CHECK(batched.to_vector<double>() == single.to_vector<double>());

  Tensor dcols = rnd({rows, g.col_ld}, 61);
  Tensor dimg_b = Tensor::ones({n * stride}, DType::f64), dimg_s = dimg_b.clone();
  cpu_be().col2im(dimg_b.narrow(0, 0, C * H * W).view({C, H, W}), dcols, gb);
  for (int64_t i = 0; i < n; ++i)
    cpu_be().col2im(dimg_s.narrow(0, i * stride, C * H * W).view({C, H, W}),
                    make_view(dcols, {rows, L}, {g.col_ld, 1}, i * L), g);
  CHECK(dimg_b.to_vector<double>() == dimg_s.to_vector<double>());  // also: the gaps between images untouched
}
