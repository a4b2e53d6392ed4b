// The one backend interface. Every device (the CPU, and CUDA through its plugin)
// implements these primitive kernels; every op in autograd/ is written in terms
// of them, so model code never names a device. Kernels write into `out`
// tensors that the caller allocated; inputs may be any strided view.
#pragma once
#include <cstdint>

#include "tensor/optim_step.h"
#include "tensor/tensor.h"

namespace moco {

enum class UnaryOp {
  neg, exp, log, sqrt, rsqrt, abs, sign, relu, tanh, sigmoid, erf,
  gelu,       // x * Phi(x), the exact (erf) form
  affine,     // a * x + b
  pow,        // x ^ a
  clamp,      // min(max(x, a), b)
  reciprocal,
};
enum class BinaryOp {
  add, sub, mul, div, maximum, minimum, pow, eq, ne, lt, le, gt, ge,
  // Fused backward passes (a = the output gradient), one pass and no temporary:
  relu_backward,  // b = relu's output: b > 0 ? a : 0
  gelu_backward,  // b = gelu's input: a * gelu'(b); floating dtypes only
};
enum class ReduceOp { sum, max, min };

struct Backend {
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* p, size_t nbytes) = 0;
  // Raw byte copies between this device's memory and host memory.
  virtual void to_host(void* host_dst, const void* src, size_t nbytes) = 0;
  virtual void from_host(void* dst, const void* host_src, size_t nbytes) = 0;

  // out = src elementwise, src already expanded to out's shape; casts dtype.
  virtual void copy(const Tensor& out, const Tensor& src) = 0;
  virtual void fill(const Tensor& out, double value) = 0;
  virtual void unary(UnaryOp op, const Tensor& out, const Tensor& x, double a = 0, double b = 0) = 0;
  // a and b are expanded to out's shape. Comparisons write 1/0 in out's dtype.
  virtual void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) = 0;
  virtual void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) = 0;
  // x is contiguous [rows, len]; out (and indices, int64, optional) are [rows].
  virtual void reduce_rows(ReduceOp op, const Tensor& out, const Tensor* indices, const Tensor& x) = 0;
  // Column sums: x is contiguous [rows, cols], out[j] = sum over i of x[i, j]
  // (bias gradients: sums over the batch without transposing it first).
  // Accumulates as reduce_rows does; deterministic (the same bits every run).
  virtual void sum_cols(const Tensor& out, const Tensor& x) = 0;

  // c[b] = alpha * op(a[b]) @ op(b[b]) + beta * c[b] for 3-D [batch, rows, cols]
  // views whose last or second-to-last stride is 1 (c: last stride 1).
  virtual void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b,
                    double beta, const Tensor& c) = 0;

  // Indexing along `dim` with a 1-D int64 index (index_select / index_add) or
  // a same-rank index (gather / scatter_add). Inputs contiguous.
  virtual void index_select(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) = 0;
  virtual void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) = 0;
  virtual void gather(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) = 0;
  virtual void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) = 0;

  // Softmax over the last dim of contiguous rows; log=true gives log_softmax.
  virtual void softmax(const Tensor& out, const Tensor& x, bool log) = 0;
  virtual void softmax_backward(const Tensor& dx, const Tensor& y, const Tensor& dy, bool log) = 0;

  // Per-channel kernels for batch norm on contiguous [N, C, S] data (S = the
  // product of the dims after C; 1 for [N, C]). Statistics are [C] tensors.
  // mean and biased variance of each channel:
  virtual void channel_moments(const Tensor& x, const Tensor& mean, const Tensor& var) = 0;
  // sum_dy[c] = sum dy, sum_dy_xmu[c] = sum dy * (x - mean[c]):
  virtual void channel_grad_sums(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& sum_dy,
                                 const Tensor& sum_dy_xmu) = 0;
  // out = x * scale[c] + shift[c] (+ x2 * scale2[c] when x2 is defined):
  virtual void channel_affine(const Tensor& out, const Tensor& x, const Tensor& scale, const Tensor& shift,
                              const Tensor& x2, const Tensor& scale2) = 0;

  // Layer norm over the rows of contiguous x [rows, len]: per row, mean and
  // rstd = 1/sqrt(biased var + eps) (both [rows], saved for the backward) and
  // y = (x - mean) * rstd * w + b; w and b are [len] or undefined.
  virtual void layer_norm(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                          const Tensor& b, double eps) = 0;
  // Its gradients from dy [rows, len]: dx [rows, len]; dw = sum over rows of
  // dy * xhat and db = sum of dy ([len], each written only when defined).
  // The row sums of dw/db are deterministic: the same bits on every run.
  virtual void layer_norm_backward(const Tensor& dx, const Tensor& dw, const Tensor& db, const Tensor& dy,
                                   const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& w) = 0;

  // Convolution pieces for one image [C,H,W] <-> columns [C*kh*kw, oh*ow]
  // whose rows are `col_ld` apart (oh*ow for one image; more when the
  // columns of several images sit side by side for one GEMM).
  // `images` consecutive images, img_stride elements apart, whose columns sit
  // side by side (image i starts at column i*oh*ow of each row of length
  // col_ld): one call — one parallel region — per chunk of a batch, not per
  // image (per-image calls woke the OpenMP workers thousands of times a step).
  struct ConvGeom {
    int64_t C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, col_ld;
    int64_t images = 1, img_stride = 0;
  };
  virtual void im2col(const Tensor& cols, const Tensor& img, const ConvGeom& g) = 0;
  virtual void col2im(const Tensor& img, const Tensor& cols, const ConvGeom& g) = 0;  // accumulates

  // Optional whole-convolution kernels (cuDNN on the GPU) on contiguous NCHW
  // x [N,C,H,W], w [OC,C/groups,kh,kw], out/dy [N,OC,oh,ow]; they overwrite
  // their output. The default returns false ("not here"): autograd/ops_conv.cpp
  // then runs im2col + GEMM, so the CPU backend need not implement them.
  struct Conv2dParams {
    int64_t sh, sw, ph, pw, dh, dw, groups;
  };
  virtual bool conv2d_forward(const Tensor& /*out*/, const Tensor& /*x*/, const Tensor& /*w*/,
                              const Conv2dParams& /*p*/) {
    return false;
  }
  virtual bool conv2d_backward_data(const Tensor& /*dx*/, const Tensor& /*dy*/, const Tensor& /*w*/,
                                    const Conv2dParams& /*p*/) {
    return false;
  }
  virtual bool conv2d_backward_filter(const Tensor& /*dw*/, const Tensor& /*dy*/, const Tensor& /*x*/,
                                      const Conv2dParams& /*p*/) {
    return false;
  }

  // Pooling on contiguous NCHW. max: indices (int64) are flat h*W+w per plane.
  struct PoolGeom {
    int64_t N, C, H, W, kh, kw, sh, sw, ph, pw, oh, ow;
    bool count_include_pad;
  };
  virtual void max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& x, const PoolGeom& g) = 0;
  virtual void max_pool2d_backward(const Tensor& dx, const Tensor& dy, const Tensor& indices, const PoolGeom& g) = 0;
  virtual void avg_pool2d(const Tensor& out, const Tensor& x, const PoolGeom& g) = 0;
  virtual void avg_pool2d_backward(const Tensor& dx, const Tensor& dy, const PoolGeom& g) = 0;

  // Counter-based random numbers: element i depends only on (seed, offset + i).
  virtual void rand_uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) = 0;
  virtual void rand_normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) = 0;

  // One optimiser or EMA update in place (the formulas: tensor/optim_step.h),
  // over contiguous tensors of p's floating dtype on this device: p (EMA: the
  // key), g (EMA: the query) and the state the formula keeps (s1, s2;
  // undefined where unused). optim::fused_step (optim/fused.h) calls it.
  virtual void optim_step(const OptimStep& s, const Tensor& p, const Tensor& g, const Tensor& s1,
                          const Tensor& s2) = 0;
};

// The backend for a device. The CPU's is always there; CUDA's is the plugin
// libmoco_cuda.so, loaded on the first call for a CUDA device (see
// tensor/cuda/plugin.h). Throws a clear error for CUDA when moco.cpp was built
// without it, or the plugin, the CUDA libraries, the driver or a GPU is missing.
Backend& backend_for(Device device);
inline Backend& backend_for(const Tensor& t) { return backend_for(t.device()); }

// Number of worker threads for CPU kernels (OpenMP and OpenBLAS together).
void set_num_threads(int n);
int get_num_threads();

}  // namespace moco
