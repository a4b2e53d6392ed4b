// Whole float32 convolutions (Backend::conv2d_*) through oneDNN (Debian's
// libdnnl, the library that PyTorch's CPU convolutions run on). Its
// JIT-compiled direct kernels work in blocked layouts and were 2x faster than
// PyTorch's own im2col + GEMM on a ResNet-18 step; writing such kernels by
// hand is not this project's job. The im2col + GEMM path
// (autograd/ops_conv.cpp) stays the oracle: float64 (and so every gradcheck),
// builds without oneDNN and MOCO_CPU_CONV=im2col use it, and tests compare
// the two. The role cuDNN plays on the CUDA backend (tensor/cuda/conv2d.cpp).
#include "tensor/cpu/cpu_backend.h"

#ifdef MOCO_WITH_DNNL
#include <array>
#include <cstdlib>
#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>

#include "tensor/shape.h"

namespace moco::cpu {

namespace {
using dnnl::memory;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

// Everything a plan depends on: N, C, H, W, OC, kh, kw, the Conv2dParams.
using ConvKey = std::array<int64_t, 14>;

// The three primitives of one convolution shape, made once (oneDNN compiles
// each for the shape) and kept.
struct ConvPlan {
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_backward_data::primitive_desc data_pd;
  dnnl::convolution_backward_weights::primitive_desc weights_pd;
  dnnl::convolution_forward fwd;
  dnnl::convolution_backward_data data;
  dnnl::convolution_backward_weights weights;
  memory::desc x_md, w_md, y_md;  // our plain layouts: NCHW, OIHW (GOIHW with groups)
};

// A plan for x [N, C, H, W] and w [OC, C/groups, kh, kw], or nullptr where
// oneDNN has no kernel (the caller then takes the im2col path).
const ConvPlan* plan_for(const Shape& x, const Shape& w, const Backend::Conv2dParams& p) {
  static std::map<ConvKey, std::unique_ptr<ConvPlan>> plans;
  const ConvKey key{x[0], x[1], x[2], x[3], w[0], w[2], w[3], p.sh, p.sw, p.ph, p.pw, p.dh, p.dw, p.groups};
  auto it = plans.find(key);
  if (it != plans.end()) return it->second.get();
  if (plans.size() >= 256) plans.clear();  // shapes keep changing: start over rather than grow

  const int64_t N = x[0], C = x[1], H = x[2], W = x[3], OC = w[0], kh = w[2], kw = w[3];
  const int64_t oh = (H + 2 * p.ph - p.dh * (kh - 1) - 1) / p.sh + 1;
  const int64_t ow = (W + 2 * p.pw - p.dw * (kw - 1) - 1) / p.sw + 1;
  const auto f32 = memory::data_type::f32;
  const auto any = memory::format_tag::any;
  const memory::dims xd{N, C, H, W}, yd{N, OC, oh, ow};
  const memory::dims wd = p.groups == 1 ? memory::dims{OC, C, kh, kw}
                                        : memory::dims{p.groups, OC / p.groups, C / p.groups, kh, kw};
  const memory::dims strides{p.sh, p.sw}, dilates{p.dh - 1, p.dw - 1}, pad{p.ph, p.pw};
  auto plan = std::make_unique<ConvPlan>();
  try {
    plan->x_md = memory::desc(xd, f32, memory::format_tag::nchw);
    plan->y_md = memory::desc(yd, f32, memory::format_tag::nchw);
    plan->w_md = memory::desc(wd, f32, p.groups == 1 ? memory::format_tag::oihw : memory::format_tag::goihw);
    const memory::desc xa(xd, f32, any), wa(wd, f32, any), ya(yd, f32, any);
    const auto alg = dnnl::algorithm::convolution_direct;
    plan->fwd_pd = dnnl::convolution_forward::primitive_desc(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, xa, wa, ya, strides, dilates, pad,
                                        pad),
        engine());
    plan->data_pd = dnnl::convolution_backward_data::primitive_desc(
        dnnl::convolution_backward_data::desc(alg, xa, wa, ya, strides, dilates, pad, pad), engine(), plan->fwd_pd);
    plan->weights_pd = dnnl::convolution_backward_weights::primitive_desc(
        dnnl::convolution_backward_weights::desc(alg, xa, wa, ya, strides, dilates, pad, pad), engine(),
        plan->fwd_pd);
    plan->fwd = dnnl::convolution_forward(plan->fwd_pd);
    plan->data = dnnl::convolution_backward_data(plan->data_pd);
    plan->weights = dnnl::convolution_backward_weights(plan->weights_pd);
  } catch (const dnnl::error&) {
    plan.reset();  // no oneDNN kernel for this shape: remember that, too
  }
  return (plans[key] = std::move(plan)).get();
}

float* data_of(const Tensor& t) { return ptr<float>(t); }

// An operand in the layout the primitive wants: our tensor's memory itself
// when the layouts agree, else a reordered copy in `scratch`.
memory input_as(const memory::desc& want, const memory::desc& ours, const Tensor& t, Tensor& scratch) {
  memory user(ours, engine(), data_of(t));
  if (want == ours) return user;
  scratch = Tensor::empty({int64_t((want.get_size() + 3) / 4)}, DType::f32);
  memory m(want, engine(), data_of(scratch));
  dnnl::reorder(user, m).execute(stream(), user, m);
  return m;
}

// Where the primitive writes a result that must end in `t`: `t` itself when
// the layouts agree, else a scratch buffer that finish_output reorders into `t`.
memory output_as(const memory::desc& want, const memory::desc& ours, const Tensor& t, Tensor& scratch) {
  if (want == ours) return memory(ours, engine(), data_of(t));
  scratch = Tensor::empty({int64_t((want.get_size() + 3) / 4)}, DType::f32);
  return memory(want, engine(), data_of(scratch));
}
void finish_output(memory produced, const memory::desc& ours, const Tensor& t) {
  if (produced.get_desc() == ours) return;
  memory user(ours, engine(), data_of(t));
  dnnl::reorder(produced, user).execute(stream(), produced, user);
}

// Images [n0, n0 + nb) of a contiguous NCHW tensor.
Tensor images(const Tensor& t, int64_t n0, int64_t nb) {
  Shape shape = t.shape();
  shape[0] = nb;
  return make_view(t, shape, contiguous_strides(shape), t.offset() + n0 * (t.numel() / t.size(0)));
}

bool usable(const Tensor& a, const Tensor& b, const Tensor& c) {
  for (const Tensor* t : {&a, &b, &c})
    if (t->dtype() != DType::f32 || !t->is_contiguous() || t->numel() == 0) return false;
  return true;
}
}  // namespace

bool CpuBackend::conv2d_forward(const Tensor& out, const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  if (!conv_library || !usable(out, x, w)) return false;
  // In equal chunks of images, so that the blocked copies (input reordered in,
  // output reordered out) stay near 16 MB each: whole, at batch 256, they were
  // two more 67 MB buffers at the moment of a MoCo step's peak memory.
  const Chunks chunks = equal_chunks(x.size(0), std::max(x.numel(), out.numel()) / x.size(0), int64_t(4) << 20);
  for (int64_t k = 0; k < chunks.count; ++k) {
    const int64_t n0 = chunks.begin(k), nb = chunks.size(k);
    const Tensor xc = images(x, n0, nb), yc = images(out, n0, nb);
    const ConvPlan* plan = plan_for(xc.shape(), w.shape(), p);
    if (!plan) {
      MOCO_CHECK(n0 == 0, "conv2d (oneDNN): no kernel for a chunk of {} images", nb);
      return false;
    }
    Tensor sx, sw, sy;
    memory mx = input_as(plan->fwd_pd.src_desc(), plan->x_md, xc, sx);
    memory mw = input_as(plan->fwd_pd.weights_desc(), plan->w_md, w, sw);
    memory my = output_as(plan->fwd_pd.dst_desc(), plan->y_md, yc, sy);
    plan->fwd.execute(stream(), {{DNNL_ARG_SRC, mx}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, my}});
    finish_output(my, plan->y_md, yc);
    stream().wait();
  }
  return true;
}

bool CpuBackend::conv2d_backward_data(const Tensor& dx, const Tensor& dy, const Tensor& w, const Conv2dParams& p) {
  if (!conv_library || !usable(dx, dy, w)) return false;
  const ConvPlan* plan = plan_for(dx.shape(), w.shape(), p);
  if (!plan) return false;
  Tensor sdy, sw, sdx;
  memory mdy = input_as(plan->data_pd.diff_dst_desc(), plan->y_md, dy, sdy);
  memory mw = input_as(plan->data_pd.weights_desc(), plan->w_md, w, sw);
  memory mdx = output_as(plan->data_pd.diff_src_desc(), plan->x_md, dx, sdx);
  plan->data.execute(stream(), {{DNNL_ARG_DIFF_DST, mdy}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DIFF_SRC, mdx}});
  finish_output(mdx, plan->x_md, dx);
  stream().wait();
  return true;
}

bool CpuBackend::conv2d_backward_filter(const Tensor& dw, const Tensor& dy, const Tensor& x, const Conv2dParams& p) {
  if (!conv_library || !usable(dw, dy, x)) return false;
  const ConvPlan* plan = plan_for(x.shape(), dw.shape(), p);
  if (!plan) return false;
  Tensor sdy, sx, sdw;
  memory mdy = input_as(plan->weights_pd.diff_dst_desc(), plan->y_md, dy, sdy);
  memory mx = input_as(plan->weights_pd.src_desc(), plan->x_md, x, sx);
  memory mdw = output_as(plan->weights_pd.diff_weights_desc(), plan->w_md, dw, sdw);
  plan->weights.execute(stream(), {{DNNL_ARG_DIFF_DST, mdy}, {DNNL_ARG_SRC, mx}, {DNNL_ARG_DIFF_WEIGHTS, mdw}});
  finish_output(mdw, plan->w_md, dw);
  stream().wait();
  return true;
}

bool CpuBackend::conv_library_default() {
  const char* v = std::getenv("MOCO_CPU_CONV");
  if (v == nullptr || std::string(v) == "onednn") return true;
  if (std::string(v) == "im2col") return false;
  fail("MOCO_CPU_CONV='{}': expected onednn or im2col", v);
}

}  // namespace moco::cpu
#endif
