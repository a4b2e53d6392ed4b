// The CUDA backend: one object per GPU, holding the device's stream, its
// cuBLAS and cuDNN handles and its caching allocator. Its methods live beside
// their kernels, one file per op family (as tensor/cpu/ does):
//
//   cuda_backend.cpp  device set-up, memory, host<->device copies, the plugin's
//                     entry point (tensor/cuda/plugin.h)
//   allocator.cpp     the caching allocator
//   elementwise.cu    copy/cast, fill, unary, binary, where
//   reduce.cu         reduce_rows, sum_cols, softmax (+ backward)
//   layer_norm.cu     layer_norm (+ backward)
//   channel.cu        batch norm's channel_moments, channel_grad_sums, channel_affine
//   index.cu          index_select, index_add, gather, scatter_add
//   conv_pool.cu      im2col, col2im, max/avg pooling (+ backward)
//   conv2d.cpp        cuDNN convolution (forward, backward data, backward filter)
//   random.cu         Philox uniform and normal fills
//   optim_step.cu     the optimiser and EMA updates (formulas in tensor/optim_step.h)
//   gemm.cpp          cuBLAS strided-batched GEMM
//
// The CPU backend's files (tensor/cpu/) carry the same names, op family by
// op family.
//
// All of it is the plugin libmoco_cuda.so (see tensor/cuda/plugin.h): the
// rest of moco.cpp reaches it through the Backend interface and
// tensor/cuda/cuda_api.h only.
//
// Every kernel runs on the device's stream, in order; the host waits only in
// to_host (and synchronize()). Kernels that find bad input (an out-of-range
// index) record it in a device error slot instead of faulting, and the
// next wait turns it into a moco::Error.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <memory>
#include <mutex>
#include <vector>

#include "tensor/backend.h"
#include "tensor/cuda/allocator.h"
#include "tensor/process_group.h"

namespace moco::cuda {

// The error slot kernels write (device memory; the first error wins by
// atomicCAS on code). code 0 = no error.
struct DeviceError {
  int code;   // 0, or the first failing op (ErrorOp)
  int pad;
  long long value;  // the offending index
  long long size;   // the size of the dim it indexes
};
enum ErrorOp : int { kErrNone = 0, kErrIndexSelect, kErrIndexAdd, kErrGather, kErrScatterAdd };

struct CudnnConv;  // conv2d.cpp: descriptors, algorithm cache, workspace

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device);
  ~CudaBackend() override;

  const char* name() const override { return "cuda"; }
  void* allocate(size_t nbytes) override;
  void deallocate(void* p, size_t nbytes) override;
  void to_host(void* host_dst, const void* src, size_t nbytes) override;
  void from_host(void* dst, const void* host_src, size_t nbytes) override;

  void copy(const Tensor& out, const Tensor& src) override;
  void fill(const Tensor& out, double value) override;
  void unary(UnaryOp op, const Tensor& out, const Tensor& x, double a, double b) override;
  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) override;
  void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) override;
  void reduce_rows(ReduceOp op, const Tensor& out, const Tensor* indices, const Tensor& x) override;
  void sum_cols(const Tensor& out, const Tensor& x) override;
  void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
            const Tensor& c) override;
  void index_select(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) override;
  void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;
  void gather(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) override;
  void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;
  void softmax(const Tensor& out, const Tensor& x, bool log) override;
  void softmax_backward(const Tensor& dx, const Tensor& y, const Tensor& dy, bool log) override;
  void channel_moments(const Tensor& x, const Tensor& mean, const Tensor& var) override;
  void channel_grad_sums(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& sum_dy,
                         const Tensor& sum_dy_xmu) override;
  void channel_affine(const Tensor& out, const Tensor& x, const Tensor& scale, const Tensor& shift, const Tensor& x2,
                      const Tensor& scale2) override;
  void layer_norm(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                  const Tensor& b, double eps) override;
  void layer_norm_backward(const Tensor& dx, const Tensor& dw, const Tensor& db, const Tensor& dy, const Tensor& x,
                           const Tensor& mean, const Tensor& rstd, const Tensor& w) override;
  void im2col(const Tensor& cols, const Tensor& img, const ConvGeom& g) override;
  void col2im(const Tensor& img, const Tensor& cols, const ConvGeom& g) override;
  void max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& x, const PoolGeom& g) override;
  void max_pool2d_backward(const Tensor& dx, const Tensor& dy, const Tensor& indices, const PoolGeom& g) override;
  void avg_pool2d(const Tensor& out, const Tensor& x, const PoolGeom& g) override;
  void avg_pool2d_backward(const Tensor& dx, const Tensor& dy, const PoolGeom& g) override;
  void rand_uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) override;
  void rand_normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) override;
  void optim_step(const OptimStep& s, const Tensor& p, const Tensor& g, const Tensor& s1, const Tensor& s2) override;
  bool conv2d_forward(const Tensor& out, const Tensor& x, const Tensor& w, const Conv2dParams& p) override;
  bool conv2d_backward_data(const Tensor& dx, const Tensor& dy, const Tensor& w, const Conv2dParams& p) override;
  bool conv2d_backward_filter(const Tensor& dw, const Tensor& dy, const Tensor& x, const Conv2dParams& p) override;

  // ---- for the kernels' launchers ----
  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  int sm_count() const { return sm_count_; }
  DeviceError* device_error() const { return error_dev_; }  // the slot, as the kernels see it
  CachingAllocator& allocator() { return alloc_; }
  cublasHandle_t cublas();
  cudnnHandle_t cudnn();
  // Makes this backend's GPU the calling thread's current device.
  void activate() const;
  // Waits for the stream; throws for an error a kernel recorded.
  void synchronize();

  // Blocks launched for a grid-stride loop over n items.
  int blocks_for(int64_t n, int threads) const;

 private:
  void check_device_error();

  int device_;
  int sm_count_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  std::mutex handle_mu_;
  DeviceError* error_host_ = nullptr;
  DeviceError* error_dev_ = nullptr;
  CachingAllocator alloc_;
  CudnnConv* conv_ = nullptr;  // created on the first convolution; lives as long as the backend
};

// The backend of GPU `device` (created on first use).
CudaBackend& backend(int device);
// tensor/cuda/nccl_group.cpp (builds with NCCL): a new NCCL group that takes `host` over
// (left with the caller when it throws).
ProcessGroup* new_nccl_group(ProcessGroup* host, int device);

// TF32 tensor cores for float32 GEMMs and convolutions (cuda_api.h's
// set_allow_tf32; MOCO_CUDA_TF32=1 at start-up).
bool tf32_enabled();
// cuda_api.h's philox_words, computed on the GPU (random.cu).
std::vector<uint32_t> gpu_philox_words(uint64_t seed, uint64_t offset, int64_t n, int device);

// Typed device pointer to a tensor's first element (offset applied).
template <class T>
inline T* dptr(const Tensor& t) {
  return static_cast<T*>(t.storage()->data()) + t.offset();
}

// Scratch device memory from the caching allocator for the length of a call
// (stream order makes it safe to free right after queuing the kernels).
class Scratch {
 public:
  Scratch(CudaBackend& be, size_t nbytes) : be_(be), n_(nbytes), p_(be.allocate(nbytes)) {}
  ~Scratch() { be_.deallocate(p_, n_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(p_);
  }

 private:
  CudaBackend& be_;
  size_t n_;
  void* p_;
};

}  // namespace moco::cuda
