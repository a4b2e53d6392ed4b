// 2-D convolution as im2col + GEMM, one image at a time (the column buffer
// is reused, so memory stays at one image's columns). Backward recomputes the
// columns from the saved input rather than keeping them for the whole batch.
#include "autograd/engine.h"
#include "autograd/kernels.h"
#include "autograd/ops.h"

namespace moco {

namespace {
Tensor mat3(const Tensor& t, int64_t rows, int64_t cols, int64_t offset_elems = 0) {
  return make_view(t, {1, rows, cols}, {rows * cols, cols, 1}, t.offset() + offset_elems);
}

struct ConvShape {
  Backend::ConvGeom g;  // per group: g.C = input channels of one group
  int64_t N, OC, groups, ocg, kdim;
};

ConvShape conv_shape(const Tensor& x, const Tensor& w, const Conv2dOptions& o) {
  MOCO_CHECK(x.dim() == 4, "conv2d: input must be [N, C, H, W], got {}", shape_str(x.shape()));
  MOCO_CHECK(w.dim() == 4, "conv2d: weight must be [out, in/groups, kh, kw], got {}", shape_str(w.shape()));
  MOCO_CHECK(o.groups >= 1 && x.size(1) % o.groups == 0 && w.size(0) % o.groups == 0,
             "conv2d: groups = {} must divide in channels {} and out channels {}", o.groups, x.size(1), w.size(0));
  MOCO_CHECK(w.size(1) * o.groups == x.size(1), "conv2d: weight {} expects {} input channels, input {} has {}",
             shape_str(w.shape()), w.size(1) * o.groups, shape_str(x.shape()), x.size(1));
  MOCO_CHECK(o.stride_h > 0 && o.stride_w > 0 && o.dil_h > 0 && o.dil_w > 0 && o.pad_h >= 0 && o.pad_w >= 0,
             "conv2d: stride and dilation must be positive, padding non-negative");
  ConvShape s;
  s.N = x.size(0);
  s.OC = w.size(0);
  s.groups = o.groups;
  s.ocg = s.OC / o.groups;
  auto& g = s.g;
  g.C = w.size(1);
  g.H = x.size(2);
  g.W = x.size(3);
  g.kh = w.size(2);
  g.kw = w.size(3);
  g.sh = o.stride_h;
  g.sw = o.stride_w;
  g.ph = o.pad_h;
  g.pw = o.pad_w;
  g.dh = o.dil_h;
  g.dw = o.dil_w;
  g.oh = (g.H + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
  g.ow = (g.W + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
  MOCO_CHECK(g.oh > 0 && g.ow > 0, "conv2d: input {}x{} is too small for kernel {}x{} (padding {}, dilation {})",
             g.H, g.W, g.kh, g.kw, g.ph, g.dh);
  s.kdim = g.C * g.kh * g.kw;
  return s;
}
}  // namespace

Tensor conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& bias, const Conv2dOptions& opt) {
  k::same_device(x_in, w_in, "conv2d");
  MOCO_CHECK(x_in.dtype() == w_in.dtype(), "conv2d: input {} and weight {} dtypes differ", dtype_name(x_in.dtype()),
             dtype_name(w_in.dtype()));
  const ConvShape s = conv_shape(x_in, w_in, opt);
  const auto& g = s.g;
  Tensor x = x_in.detach().contiguous(), w = w_in.detach().contiguous();
  Backend& be = backend_for(x);
  const int64_t L = g.oh * g.ow;
  Tensor out = Tensor::empty({s.N, s.OC, g.oh, g.ow}, x.dtype(), x.device());
  Tensor cols = Tensor::empty({s.kdim, L}, x.dtype(), x.device());
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t gr = 0; gr < s.groups; ++gr) {
      Tensor img = make_view(x, {g.C, g.H, g.W}, contiguous_strides({g.C, g.H, g.W}),
                             (n * s.groups + gr) * g.C * g.H * g.W);
      be.im2col(cols, img, g);
      be.gemm(false, false, 1.0, mat3(w, s.ocg, s.kdim, gr * s.ocg * s.kdim), mat3(cols, s.kdim, L), 0.0,
              mat3(out, s.ocg, L, (n * s.OC + gr * s.ocg) * L));
    }
  if (bias.defined()) {
    MOCO_CHECK(bias.dim() == 1 && bias.size(0) == s.OC, "conv2d: bias must be [{}], got {}", s.OC,
               shape_str(bias.shape()));
    be.binary(BinaryOp::add, out, out, expand_view(bias.detach().reshape({s.OC, 1, 1}), out.shape()));
  }
  const bool gx = needs_grad({x_in}), gw = needs_grad({w_in}), has_bias = bias.defined();
  record(out, "conv2d", {x_in, w_in, bias}, [=](const Tensor& gout_in) {
    Backend& be = backend_for(x);
    Tensor gout = gout_in.contiguous();
    Tensor dx = gx ? Tensor::zeros_like(x) : Tensor();
    Tensor dw = gw ? Tensor::zeros_like(w) : Tensor();
    Tensor c = Tensor::empty({s.kdim, L}, x.dtype(), x.device());
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t gr = 0; gr < s.groups; ++gr) {
        const int64_t img_off = (n * s.groups + gr) * g.C * g.H * g.W;
        Tensor go = mat3(gout, s.ocg, L, (n * s.OC + gr * s.ocg) * L);
        if (gw) {
          Tensor img = make_view(x, {g.C, g.H, g.W}, contiguous_strides({g.C, g.H, g.W}), img_off);
          be.im2col(c, img, g);
          be.gemm(false, true, 1.0, go, mat3(c, s.kdim, L), 1.0, mat3(dw, s.ocg, s.kdim, gr * s.ocg * s.kdim));
        }
        if (gx) {
          be.gemm(true, false, 1.0, mat3(w, s.ocg, s.kdim, gr * s.ocg * s.kdim), go, 0.0, mat3(c, s.kdim, L));
          Tensor dimg = make_view(dx, {g.C, g.H, g.W}, contiguous_strides({g.C, g.H, g.W}), img_off);
          be.col2im(dimg, c, g);
        }
      }
    Tensor db = has_bias ? sum(gout, {0, 2, 3}) : Tensor();
    return std::vector<Tensor>{dx, dw, db};
  });
  return out;
}

}  // namespace moco
