// Device-side helpers shared by the kernel files: the strided N-d indexing of
// elementwise kernels (shapes and strides passed by value in a small struct),
// grid-stride launch, and float/double math overloads.
#pragma once
#include <cuda_runtime.h>

#include <array>
#include <cstdint>

#include "tensor/cuda/check.h"
#include "tensor/cuda/cuda_backend.h"

namespace moco::cuda {

// Dims left after dropping size-1 dims and merging neighbours that are
// contiguous for every operand; more is an error (a view that odd is rare).
constexpr int kMaxDims = 8;

// NT operands (operand 0 is the output), each with its own element strides.
template <int NT>
struct Strided {
  int nd = 0;
  bool contiguous = false;  // one dim, stride 1 for every operand: offset = i
  int64_t numel = 0;
  int64_t size[kMaxDims] = {};
  int64_t stride[NT][kMaxDims] = {};
};

// The same coalescing as cpu::strided_for (tensor/cpu/loops.h).
template <int NT>
Strided<NT> make_strided(const Shape& shape, const std::array<const Shape*, NT>& strides, const char* op) {
  Strided<NT> m;
  m.numel = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    m.numel *= shape[d];
    if (shape[d] == 1) continue;
    bool merge = m.nd > 0;
    for (int k = 0; k < NT && merge; ++k) merge = m.stride[k][m.nd - 1] == (*strides[k])[d] * shape[d];
    if (merge) {
      m.size[m.nd - 1] *= shape[d];
      for (int k = 0; k < NT; ++k) m.stride[k][m.nd - 1] = (*strides[k])[d];
      continue;
    }
    MOCO_CHECK(m.nd < kMaxDims, "{} (cuda): a view of shape {} has more than {} dims that cannot be merged; make it "
               "contiguous first", op, shape_str(shape), kMaxDims);
    m.size[m.nd] = shape[d];
    for (int k = 0; k < NT; ++k) m.stride[k][m.nd] = (*strides[k])[d];
    ++m.nd;
  }
  m.contiguous = m.nd == 0;
  if (m.nd == 1) {
    m.contiguous = true;
    for (int k = 0; k < NT; ++k) m.contiguous = m.contiguous && m.stride[k][0] == 1;
  }
  return m;
}

template <int NT>
__device__ __forceinline__ void strided_offsets(const Strided<NT>& m, int64_t i, int64_t (&off)[NT]) {
#pragma unroll
  for (int k = 0; k < NT; ++k) off[k] = 0;
  if (m.contiguous) {
#pragma unroll
    for (int k = 0; k < NT; ++k) off[k] = i;
    return;
  }
  if (m.nd == 1) {
#pragma unroll
    for (int k = 0; k < NT; ++k) off[k] = i * m.stride[k][0];
    return;
  }
#pragma unroll
  for (int d = kMaxDims - 1; d >= 0; --d) {
    if (d < m.nd) {
      const int64_t q = i / m.size[d], r = i - q * m.size[d];
      i = q;
#pragma unroll
      for (int k = 0; k < NT; ++k) off[k] += r * m.stride[k][d];
    }
  }
}

// Calls f(off) for every element, off[k] the element offset of operand k.
template <int NT, class F>
__global__ void __launch_bounds__(256) strided_kernel(Strided<NT> m, F f) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < m.numel; i += step) {
    int64_t off[NT];
    strided_offsets(m, i, off);
    f(off);
  }
}

template <int NT, class F>
void launch_strided(const CudaBackend& be, const Strided<NT>& m, const F& f) {
  if (m.numel == 0) return;
  constexpr int kThreads = 256;
  strided_kernel<NT, F><<<be.blocks_for(m.numel, kThreads), kThreads, 0, be.stream()>>>(m, f);
  MOCO_CUDA_CHECK_LAUNCH();
}

// ---- math overloads: float and double, IEEE-accurate (no fast-math) ----
__device__ __forceinline__ float d_exp(float x) { return expf(x); }
__device__ __forceinline__ double d_exp(double x) { return exp(x); }
__device__ __forceinline__ float d_log(float x) { return logf(x); }
__device__ __forceinline__ double d_log(double x) { return log(x); }
__device__ __forceinline__ float d_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double d_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float d_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double d_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float d_erf(float x) { return erff(x); }
__device__ __forceinline__ double d_erf(double x) { return erf(x); }
__device__ __forceinline__ float d_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double d_pow(double x, double y) { return pow(x, y); }
__device__ __forceinline__ float d_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double d_abs(double x) { return fabs(x); }
__device__ __forceinline__ bool d_isnan(float x) { return isnan(x); }
__device__ __forceinline__ bool d_isnan(double x) { return isnan(x); }
__device__ __forceinline__ bool d_isnan(long long) { return false; }
__device__ __forceinline__ bool d_isnan(long) { return false; }

// Accumulator of sums: double for floating types (as the CPU backend), int64 for int64.
template <class T>
struct Acc {
  using type = double;
};
template <>
struct Acc<int64_t> {
  using type = int64_t;
};

}  // namespace moco::cuda
