// The CPU backend: plain loops with OpenMP, CBLAS for GEMM. It is the trusted
// oracle every other backend is checked against, so clarity comes first.
#pragma once
#include <cstring>

#include "tensor/backend.h"

namespace moco::cpu {

struct CpuBackend final : Backend {
  const char* name() const override { return "cpu"; }
  void* allocate(size_t nbytes) override;
  void deallocate(void* p, size_t nbytes) override;
  void to_host(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void from_host(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }

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
#ifdef MOCO_WITH_DNNL
  // float32 convolutions by oneDNN (conv2d.cpp) while true; false: the
  // im2col + GEMM oracle. MOCO_CPU_CONV=onednn|im2col sets the default.
  bool conv_library = conv_library_default();
  static bool conv_library_default();
  bool conv2d_forward(const Tensor& out, const Tensor& x, const Tensor& w, const Conv2dParams& p) override;
  bool conv2d_backward_data(const Tensor& dx, const Tensor& dy, const Tensor& w, const Conv2dParams& p) override;
  bool conv2d_backward_filter(const Tensor& dw, const Tensor& dy, const Tensor& x, const Conv2dParams& p) override;
#endif
};

// Typed pointer to a tensor's first element (offset applied).
template <class T>
inline T* ptr(const Tensor& t) {
  return static_cast<T*>(t.storage()->data()) + t.offset();
}

}  // namespace moco::cpu
