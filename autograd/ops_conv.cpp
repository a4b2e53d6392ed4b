// 2-D convolution as im2col + GEMM. The columns of a chunk of images sit side
// by side ([C*kh*kw, images*oh*ow]) so one GEMM serves the whole chunk: deep
// layers with tiny feature maps would otherwise run skinny, slow GEMMs. The
// chunk is capped so the column buffer stays small; backward recomputes the
// columns from the saved input rather than keeping them.
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
  g.col_ld = 0;  // set per chunk
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
  g.img_stride = x.size(1) * g.H * g.W;  // from one image to the next, all groups
  return s;
}
}  // namespace

namespace {
// Images per GEMM: enough to make the GEMM wide, few enough that the column
// buffer stays near 16 MB of float32; equal chunks, so that no last one-image
// GEMM runs skinny and slow.
Chunks image_chunks(const ConvShape& s) { return equal_chunks(s.N, s.kdim * s.g.oh * s.g.ow, int64_t(4) << 20); }

Tensor image(const Tensor& t, const ConvShape& s, int64_t n, int64_t group) {
  const auto& g = s.g;
  return make_view(t, {g.C, g.H, g.W}, contiguous_strides({g.C, g.H, g.W}),
                   t.offset() + (n * s.groups + group) * g.C * g.H * g.W);
}

// The [ocg, nb, L] block of output channels of one group for images n0..n0+nb
// of an NCHW tensor [N, OC, L], viewed in the GEMM's [ocg, nb*L] order.
Tensor group_block(const Tensor& t, const ConvShape& s, int64_t n0, int64_t nb, int64_t group) {
  const int64_t L = s.g.oh * s.g.ow;
  return make_view(t, {s.ocg, nb, L}, {L, s.OC * L, 1}, t.offset() + (n0 * s.OC + group * s.ocg) * L);
}
}  // namespace

// ---- whole-convolution kernels of the backend (cuDNN; added with the CUDA backend) ----
namespace {
// Runs the convolution into `out` with the backend's own kernels
// (Backend::conv2d_forward and its backward pair; the CUDA backend uses
// cuDNN) and records its node. Returns false when the backend has none (the
// CPU), and conv2d below goes on with im2col + GEMM.
bool conv2d_by_backend(Backend& be, const Tensor& out, const Tensor& x_in, const Tensor& w_in, const Tensor& x,
                       const Tensor& w, const Tensor& bias, const ConvShape& s, const Conv2dOptions& o) {
  const Backend::Conv2dParams p{o.stride_h, o.stride_w, o.pad_h, o.pad_w, o.dil_h, o.dil_w, o.groups};
  if (!be.conv2d_forward(out, x, w, p)) return false;
  if (bias.defined()) {
    MOCO_CHECK(bias.dim() == 1 && bias.size(0) == s.OC, "conv2d: bias must be [{}], got {}", s.OC,
               shape_str(bias.shape()));
    be.binary(BinaryOp::add, out, out, expand_view(bias.detach().reshape({s.OC, 1, 1}), out.shape()));
  }
  const bool gx = needs_grad({x_in}), gw = needs_grad({w_in}), has_bias = bias.defined();
  record(out, "conv2d", {x_in, w_in, bias}, [=](const Tensor& gout_in) {
    Backend& b = backend_for(x);
    Tensor gout = gout_in.contiguous();
    Tensor dx = gx ? Tensor::empty_like(x) : Tensor();
    Tensor dw = gw ? Tensor::empty_like(w) : Tensor();
    if (gx) MOCO_CHECK(b.conv2d_backward_data(dx, gout, w, p), "conv2d: backend {} has no backward-data kernel", b.name());
    if (gw) MOCO_CHECK(b.conv2d_backward_filter(dw, gout, x, p), "conv2d: backend {} has no backward-filter kernel",
                       b.name());
    Tensor db = has_bias ? sum(gout, {0, 2, 3}) : Tensor();
    return std::vector<Tensor>{dx, dw, db};
  });
  return true;
}
}  // namespace

Tensor conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& bias, const Conv2dOptions& opt) {
  k::same_device(x_in, w_in, "conv2d");
  MOCO_CHECK(x_in.dtype() == w_in.dtype(), "conv2d: input {} and weight {} dtypes differ", dtype_name(x_in.dtype()),
             dtype_name(w_in.dtype()));
  const ConvShape s = conv_shape(x_in, w_in, opt);
  Tensor x = x_in.detach().contiguous(), w = w_in.detach().contiguous();
  Backend& be = backend_for(x);
  const int64_t L = s.g.oh * s.g.ow;
  const Chunks chunks = image_chunks(s);
  Tensor out = Tensor::empty({s.N, s.OC, s.g.oh, s.g.ow}, x.dtype(), x.device());
  if (conv2d_by_backend(be, out, x_in, w_in, x, w, bias, s, opt)) return out;  // cuDNN
  Tensor cols = Tensor::empty({s.kdim, chunks.largest * L}, x.dtype(), x.device());
  Tensor prod = chunks.largest > 1 ? Tensor::empty({s.ocg, chunks.largest * L}, x.dtype(), x.device()) : Tensor();
  for (int64_t k = 0; k < chunks.count; ++k) {
    const int64_t n0 = chunks.begin(k), nb = chunks.size(k);
    Backend::ConvGeom g = s.g;
    g.col_ld = nb * L;
    g.images = nb;
    for (int64_t gr = 0; gr < s.groups; ++gr) {
      be.im2col(make_view(cols, {s.kdim, L}, {nb * L, 1}, 0), image(x, s, n0, gr), g);
      Tensor wg = mat3(w, s.ocg, s.kdim, gr * s.ocg * s.kdim);
      if (nb == 1) {  // one image: the GEMM writes straight into the output
        be.gemm(false, false, 1.0, wg, mat3(cols, s.kdim, L), 0.0, mat3(out, s.ocg, L, (n0 * s.OC + gr * s.ocg) * L));
      } else {
        be.gemm(false, false, 1.0, wg, mat3(cols, s.kdim, nb * L), 0.0, mat3(prod, s.ocg, nb * L));
        be.copy(group_block(out, s, n0, nb, gr), make_view(prod, {s.ocg, nb, L}, {nb * L, L, 1}, 0));
      }
    }
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
    Tensor c = Tensor::empty({s.kdim, chunks.largest * L}, x.dtype(), x.device());
    Tensor go = Tensor::empty({s.ocg, chunks.largest * L}, x.dtype(), x.device());
    for (int64_t k = 0; k < chunks.count; ++k) {
      const int64_t n0 = chunks.begin(k), nb = chunks.size(k);
      Backend::ConvGeom g = s.g;
      g.col_ld = nb * L;
      g.images = nb;
      for (int64_t gr = 0; gr < s.groups; ++gr) {
        // gradient of this group's outputs in GEMM order [ocg, nb*L]
        be.copy(make_view(go, {s.ocg, nb, L}, {nb * L, L, 1}, 0), group_block(gout, s, n0, nb, gr));
        Tensor go3 = mat3(go, s.ocg, nb * L);
        if (gw) {
          be.im2col(make_view(c, {s.kdim, L}, {nb * L, 1}, 0), image(x, s, n0, gr), g);
          be.gemm(false, true, 1.0, go3, mat3(c, s.kdim, nb * L), 1.0, mat3(dw, s.ocg, s.kdim, gr * s.ocg * s.kdim));
        }
        if (gx) {
          be.gemm(true, false, 1.0, mat3(w, s.ocg, s.kdim, gr * s.ocg * s.kdim), go3, 0.0, mat3(c, s.kdim, nb * L));
          be.col2im(image(dx, s, n0, gr), make_view(c, {s.kdim, L}, {nb * L, 1}, 0), g);
        }
      }
    }
    Tensor db = has_bias ? sum(gout, {0, 2, 3}) : Tensor();
    return std::vector<Tensor>{dx, dw, db};
  });
  return out;
}

}  // namespace moco
