// conv2d batches the columns of several images into one GEMM and splits big
// batches into chunks; the result must not depend on that grouping.
#include "test_util.h"

using namespace moco;
using namespace moco::testing;

TEST_CASE("conv2d: chunked batch equals image-by-image, forward and backward") {
  // 64 channels at 54x54 with a 3x3 kernel: ~1.7M column elements per image,
  // so 3 images run as two chunks (of 1 and 2 images).
  Tensor x = rnd({3, 64, 54, 54}, 1, DType::f32).requires_grad_();
  Tensor w = mul(rnd({4, 64, 3, 3}, 2, DType::f32), 0.05).detach().requires_grad_();
  Tensor b = rnd({4}, 3, DType::f32).requires_grad_();
  Conv2dOptions o;
  o.pad_h = o.pad_w = 1;
  Tensor y = conv2d(x, w, b, o);
  Tensor gy = rnd(y.shape(), 4, DType::f32);
  y.backward(gy);
  Tensor dx = x.grad(), dw = w.grad(), db = b.grad();

  std::vector<Tensor> ys;
  Tensor dw_sum = Tensor::zeros_like(w), db_sum = Tensor::zeros_like(b);
  std::vector<Tensor> dxs;
  for (int64_t n = 0; n < 3; ++n) {
    Tensor xi = x.detach().narrow(0, n, 1).contiguous().requires_grad_();
    w.zero_grad();
    b.zero_grad();
    Tensor yi = conv2d(xi, w, b, o);
    yi.backward(gy.narrow(0, n, 1).contiguous());
    ys.push_back(yi.detach());
    dxs.push_back(xi.grad());
    NoGradGuard ng;
    dw_sum.add_(w.grad());
    db_sum.add_(b.grad());
  }
  CHECK_CLOSE(y.detach(), cat(ys, 0), 1e-4, 1e-4);
  CHECK_CLOSE(dx, cat(dxs, 0), 1e-4, 1e-4);
  CHECK_CLOSE(dw, dw_sum, 1e-2, 1e-4);
  CHECK_CLOSE(db, db_sum, 1e-2, 1e-4);
}
