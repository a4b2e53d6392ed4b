// cuDNN convolution: forward, backward data and backward filter of float32
// NCHW tensors in one library call each (Backend::conv2d_*; autograd/ops_conv.cpp
// falls back to im2col + GEMM when these return false: float64, or
// MOCO_CUDNN=0 in the environment).
//
// Per shape (input, weight, stride, padding, dilation, groups) the
// descriptors are built once and each direction's algorithm is chosen once,
// by timing the candidates (cudnnFind*AlgorithmEx, as torch.backends.cudnn.benchmark
// does) on the call's own buffers, then cached. All convolutions share one
// workspace that grows to the largest need. TF32 follows set_allow_tf32() (cuda_api.h):
// off, the descriptors ask for CUDNN_FMA_MATH (plain float32 arithmetic).
//
// This uses cuDNN's classic convolution API, which cuDNN 9 still ships
// (libcudnn_cnn) though it marks it deprecated in favour of the graph API.
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <tuple>

#include "tensor/cuda/check.h"
#include "tensor/cuda/cuda_backend.h"

namespace moco::cuda {

namespace {

// Largest workspace an algorithm may ask for.
constexpr size_t kMaxWorkspace = size_t(1) << 30;

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                       int64_t, int64_t, int64_t, int64_t, bool>;

struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  bool have_fwd = false, have_bwd_data = false, have_bwd_filter = false;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  cudnnMathType_t fwd_math{}, bwd_data_math{}, bwd_filter_math{};
  size_t fwd_ws = 0, bwd_data_ws = 0, bwd_filter_ws = 0;
};

int as_int(int64_t v) {
  MOCO_CHECK(v >= 0 && v <= INT_MAX, "conv2d (cudnn): size {} does not fit cuDNN's int", v);
  return int(v);
}

bool cudnn_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("MOCO_CUDNN");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return on;
}

}  // namespace

struct CudnnConv {
  std::map<Key, Plan> plans;
  void* workspace = nullptr;
  size_t workspace_size = 0;

  // A workspace of at least n bytes (the old one is freed in stream order).
  void* workspace_for(CudaBackend& be, size_t n) {
    if (n == 0) return nullptr;
    if (n > workspace_size) {
      if (workspace) be.deallocate(workspace, workspace_size);
      workspace = nullptr;
      workspace_size = 0;
      workspace = be.allocate(n);
      workspace_size = n;
    }
    return workspace;
  }

  Plan& plan_for(const Tensor& x, const Tensor& w, const Backend::Conv2dParams& p) {
    const bool tf32 = tf32_enabled();
    // groups is implied by x.size(1) / w.size(1); tf32 changes the algorithms.
    const Key key{x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(1), w.size(2), w.size(3),
                  p.sh,      p.sw,      p.ph,      p.pw,      p.dh,      p.dw,      tf32};
    auto it = plans.find(key);
    if (it != plans.end()) return it->second;
    Plan pl;
    MOCO_CUDNN_CHECK(cudnnCreateTensorDescriptor(&pl.x));
    MOCO_CUDNN_CHECK(cudnnCreateTensorDescriptor(&pl.y));
    MOCO_CUDNN_CHECK(cudnnCreateFilterDescriptor(&pl.w));
    MOCO_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&pl.conv));
    MOCO_CUDNN_CHECK(cudnnSetTensor4dDescriptor(pl.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, as_int(x.size(0)),
                                                as_int(x.size(1)), as_int(x.size(2)), as_int(x.size(3))));
    MOCO_CUDNN_CHECK(cudnnSetFilter4dDescriptor(pl.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, as_int(w.size(0)),
                                                as_int(w.size(1)), as_int(w.size(2)), as_int(w.size(3))));
    MOCO_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(pl.conv, as_int(p.ph), as_int(p.pw), as_int(p.sh), as_int(p.sw),
                                                     as_int(p.dh), as_int(p.dw), CUDNN_CROSS_CORRELATION,
                                                     CUDNN_DATA_FLOAT));
    MOCO_CUDNN_CHECK(cudnnSetConvolutionGroupCount(pl.conv, as_int(p.groups)));
    MOCO_CUDNN_CHECK(cudnnSetConvolutionMathType(pl.conv, tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
    int n = 0, c = 0, h = 0, wd = 0;
    MOCO_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(pl.conv, pl.x, pl.w, &n, &c, &h, &wd));
    MOCO_CUDNN_CHECK(cudnnSetTensor4dDescriptor(pl.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, wd));
    return plans.emplace(key, pl).first->second;
  }
};

namespace {

// Timing candidates needs scratch: what the workspace may grow to, bounded
// by the device's free memory.
size_t find_budget() {
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    cudaGetLastError();
    return size_t(64) << 20;
  }
  return std::min(kMaxWorkspace, free_b / 2);
}

void check_shapes(const Tensor& x, const Tensor& w, const Tensor& y, const Plan& pl) {
  int n = 0, c = 0, h = 0, wd = 0, s0, s1, s2, s3;
  cudnnDataType_t dt;
  MOCO_CUDNN_CHECK(cudnnGetTensor4dDescriptor(pl.y, &dt, &n, &c, &h, &wd, &s0, &s1, &s2, &s3));
  MOCO_CHECK(y.dim() == 4 && y.size(0) == n && y.size(1) == c && y.size(2) == h && y.size(3) == wd,
             "conv2d (cudnn): output {} differs from cuDNN's [{}, {}, {}, {}] for input {} and weight {}",
             shape_str(y.shape()), n, c, h, wd, shape_str(x.shape()), shape_str(w.shape()));
  MOCO_CHECK(x.is_contiguous() && w.is_contiguous() && y.is_contiguous(), "conv2d (cudnn): tensors must be contiguous");
}

bool usable(const Tensor& x, const Tensor& w) {
  return cudnn_enabled() && x.dtype() == DType::f32 && w.dtype() == DType::f32 && x.dim() == 4 && w.dim() == 4;
}

}  // namespace

bool CudaBackend::conv2d_forward(const Tensor& out, const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  if (!usable(x, w)) return false;
  activate();
  if (!conv_) conv_ = new CudnnConv();
  Plan& pl = conv_->plan_for(x, w, p);
  check_shapes(x, w, out, pl);
  if (out.numel() == 0) return true;
  cudnnHandle_t h = cudnn();
  if (!pl.have_fwd) {
    const size_t budget = find_budget();
    Scratch find_ws(*this, budget);  // for timing only; the run uses the shared workspace
    void* ws = find_ws.as<void>();
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int found = 0;
    MOCO_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, pl.x, dptr<float>(x), pl.w, dptr<float>(w), pl.conv,
                                                            pl.y, dptr<float>(out), CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                            &found, perf, ws, budget));
    int i = 0;
    while (i < found && perf[i].status != CUDNN_STATUS_SUCCESS) ++i;
    MOCO_CHECK(i < found, "conv2d (cudnn): no forward algorithm for input {} and weight {}", shape_str(x.shape()),
               shape_str(w.shape()));
    pl.fwd = perf[i].algo;
    pl.fwd_math = perf[i].mathType;
    pl.fwd_ws = perf[i].memory;
    pl.have_fwd = true;
  }
  MOCO_CUDNN_CHECK(cudnnSetConvolutionMathType(pl.conv, pl.fwd_math));
  const float one = 1, zero = 0;
  void* ws = conv_->workspace_for(*this, pl.fwd_ws);
  MOCO_CUDNN_CHECK(cudnnConvolutionForward(h, &one, pl.x, dptr<float>(x), pl.w, dptr<float>(w), pl.conv, pl.fwd, ws,
                                           pl.fwd_ws, &zero, pl.y, dptr<float>(out)));
  return true;
}

bool CudaBackend::conv2d_backward_data(const Tensor& dx, const Tensor& dy, const Tensor& w, const Conv2dParams& p) {
  if (!usable(dx, w)) return false;
  activate();
  if (!conv_) conv_ = new CudnnConv();
  Plan& pl = conv_->plan_for(dx, w, p);
  check_shapes(dx, w, dy, pl);
  if (dx.numel() == 0) return true;
  cudnnHandle_t h = cudnn();
  if (dy.numel() == 0) {
    fill(dx, 0);
    return true;
  }
  if (!pl.have_bwd_data) {
    const size_t budget = find_budget();
    Scratch find_ws(*this, budget);  // for timing only; the run uses the shared workspace
    void* ws = find_ws.as<void>();
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int found = 0;
    MOCO_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
        h, pl.w, dptr<float>(w), pl.y, dptr<float>(dy), pl.conv, pl.x, dptr<float>(dx),
        CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &found, perf, ws, budget));
    int i = 0;
    while (i < found && perf[i].status != CUDNN_STATUS_SUCCESS) ++i;
    MOCO_CHECK(i < found, "conv2d (cudnn): no backward-data algorithm for input {} and weight {}",
               shape_str(dx.shape()), shape_str(w.shape()));
    pl.bwd_data = perf[i].algo;
    pl.bwd_data_math = perf[i].mathType;
    pl.bwd_data_ws = perf[i].memory;
    pl.have_bwd_data = true;
  }
  MOCO_CUDNN_CHECK(cudnnSetConvolutionMathType(pl.conv, pl.bwd_data_math));
  const float one = 1, zero = 0;
  void* ws = conv_->workspace_for(*this, pl.bwd_data_ws);
  MOCO_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, pl.w, dptr<float>(w), pl.y, dptr<float>(dy), pl.conv,
                                                pl.bwd_data, ws, pl.bwd_data_ws, &zero, pl.x, dptr<float>(dx)));
  return true;
}

bool CudaBackend::conv2d_backward_filter(const Tensor& dw, const Tensor& dy, const Tensor& x, const Conv2dParams& p) {
  if (!usable(x, dw)) return false;
  activate();
  if (!conv_) conv_ = new CudnnConv();
  Plan& pl = conv_->plan_for(x, dw, p);
  check_shapes(x, dw, dy, pl);
  if (dw.numel() == 0) return true;
  cudnnHandle_t h = cudnn();
  if (dy.numel() == 0) {
    fill(dw, 0);
    return true;
  }
  if (!pl.have_bwd_filter) {
    const size_t budget = find_budget();
    Scratch find_ws(*this, budget);  // for timing only; the run uses the shared workspace
    void* ws = find_ws.as<void>();
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int found = 0;
    MOCO_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
        h, pl.x, dptr<float>(x), pl.y, dptr<float>(dy), pl.conv, pl.w, dptr<float>(dw),
        CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &found, perf, ws, budget));
    int i = 0;
    while (i < found && perf[i].status != CUDNN_STATUS_SUCCESS) ++i;
    MOCO_CHECK(i < found, "conv2d (cudnn): no backward-filter algorithm for input {} and weight {}",
               shape_str(x.shape()), shape_str(dw.shape()));
    pl.bwd_filter = perf[i].algo;
    pl.bwd_filter_math = perf[i].mathType;
    pl.bwd_filter_ws = perf[i].memory;
    pl.have_bwd_filter = true;
  }
  MOCO_CUDNN_CHECK(cudnnSetConvolutionMathType(pl.conv, pl.bwd_filter_math));
  const float one = 1, zero = 0;
  void* ws = conv_->workspace_for(*this, pl.bwd_filter_ws);
  MOCO_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, pl.x, dptr<float>(x), pl.y, dptr<float>(dy), pl.conv,
                                                  pl.bwd_filter, ws, pl.bwd_filter_ws, &zero, pl.w, dptr<float>(dw)));
  return true;
}

}  // namespace moco::cuda
