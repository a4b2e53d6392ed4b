// Max and average pooling over NCHW, forward and backward.
#include "autograd/engine.h"
#include "autograd/kernels.h"
#include "autograd/ops.h"

namespace moco {

namespace {
Backend::PoolGeom pool_geom(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding, const char* op) {
  MOCO_CHECK(x.dim() == 4, "{}: input must be [N, C, H, W], got {}", op, shape_str(x.shape()));
  MOCO_CHECK(kernel > 0 && stride > 0 && padding >= 0, "{}: kernel {} and stride {} must be positive, padding {} "
             "non-negative", op, kernel, stride, padding);
  MOCO_CHECK(2 * padding <= kernel, "{}: padding {} must be at most half the kernel {}", op, padding, kernel);
  Backend::PoolGeom g{};
  g.N = x.size(0);
  g.C = x.size(1);
  g.H = x.size(2);
  g.W = x.size(3);
  g.kh = g.kw = kernel;
  g.sh = g.sw = stride;
  g.ph = g.pw = padding;
  g.oh = (g.H + 2 * padding - kernel) / stride + 1;
  g.ow = (g.W + 2 * padding - kernel) / stride + 1;
  MOCO_CHECK(g.oh > 0 && g.ow > 0, "{}: input {}x{} is smaller than the kernel {}", op, g.H, g.W, kernel);
  return g;
}
}  // namespace

Tensor max_pool2d(const Tensor& x_in, int64_t kernel, int64_t stride, int64_t padding) {
  Backend::PoolGeom g = pool_geom(x_in, kernel, stride, padding, "max_pool2d");
  Tensor x = x_in.detach().contiguous();
  Tensor out = Tensor::empty({g.N, g.C, g.oh, g.ow}, x.dtype(), x.device());
  Tensor idx = Tensor::empty({g.N, g.C, g.oh, g.ow}, DType::i64, x.device());
  backend_for(x).max_pool2d(out, idx, x, g);
  record(out, "max_pool2d", {x_in}, [g, idx, shape = x.shape()](const Tensor& gout) {
    Tensor dx = Tensor::zeros(shape, gout.dtype(), gout.device());
    backend_for(gout).max_pool2d_backward(dx, gout.contiguous(), idx, g);
    return std::vector<Tensor>{dx};
  });
  return out;
}

Tensor avg_pool2d(const Tensor& x_in, int64_t kernel, int64_t stride, int64_t padding, bool count_include_pad) {
  Backend::PoolGeom g = pool_geom(x_in, kernel, stride, padding, "avg_pool2d");
  g.count_include_pad = count_include_pad;
  Tensor x = x_in.detach().contiguous();
  Tensor out = Tensor::empty({g.N, g.C, g.oh, g.ow}, x.dtype(), x.device());
  backend_for(x).avg_pool2d(out, x, g);
  record(out, "avg_pool2d", {x_in}, [g, shape = x.shape()](const Tensor& gout) {
    Tensor dx = Tensor::zeros(shape, gout.dtype(), gout.device());
    backend_for(gout).avg_pool2d_backward(dx, gout.contiguous(), g);
    return std::vector<Tensor>{dx};
  });
  return out;
}

Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w) {
  MOCO_CHECK(x.dim() == 4, "adaptive_avg_pool2d: input must be [N, C, H, W], got {}", shape_str(x.shape()));
  MOCO_CHECK(out_h > 0 && out_w > 0, "adaptive_avg_pool2d: output size must be positive");
  const int64_t H = x.size(2), W = x.size(3);
  if (out_h == 1 && out_w == 1) return mean(x, {2, 3}, true);
  // Equal windows when the output divides the input: PyTorch's adaptive
  // windows are then exactly this average pool.
  MOCO_CHECK(H % out_h == 0 && W % out_w == 0 && H / out_h == W / out_w,
             "adaptive_avg_pool2d: output {}x{} must divide input {}x{} with square windows (other sizes are not "
             "supported)", out_h, out_w, H, W);
  return avg_pool2d(x, H / out_h, H / out_h);
}

}  // namespace moco
