// The optimiser and EMA updates on the GPU: one grid-stride kernel running
// the formulas of tensor/optim_step.h (the CPU runs the same ones in
// tensor/cpu/optim_step.cpp). LARS first sums its two squared norms in double,
// per block then in a fixed order, so the trust ratio is the same every run,
// and the update kernel reads the sums from device memory (no host wait).
#include <algorithm>

#include "tensor/cuda/strided.cuh"
#include "tensor/optim_step.h"

namespace moco::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxNormBlocks = 1024;

template <class T, class Formula>
__global__ void __launch_bounds__(kThreads) step_kernel(Formula f, int64_t n, T* p, const T* g, T* s1, T* s2) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) f(i, p, g, s1, s2);
}

// Sums every thread's a into sp[0] and b into sd[0] (shared arrays of
// kThreads), by a tree in a fixed order; all threads may read them after.
__device__ void block_sum2(double a, double b, double* sp, double* sd) {
  sp[threadIdx.x] = a;
  sd[threadIdx.x] = b;
  __syncthreads();
  for (int h = kThreads / 2; h > 0; h /= 2) {
    if (int(threadIdx.x) < h) {
      sp[threadIdx.x] += sp[threadIdx.x + h];
      sd[threadIdx.x] += sd[threadIdx.x + h];
    }
    __syncthreads();
  }
}

// Block b writes partial[2b] = Σ p², partial[2b + 1] = Σ (g + wd·p)² over its slice.
template <class T>
__global__ void __launch_bounds__(kThreads)
    lars_partial_norms(optim_formula::Lars<T> f, int64_t n, const T* p, const T* g, double* partial) {
  __shared__ double sp[kThreads], sd[kThreads];
  double a = 0, b = 0;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const double pv = double(p[i]), dv = double(f.decayed(i, p, g));
    a += pv * pv;
    b += dv * dv;
  }
  block_sum2(a, b, sp, sd);
  if (threadIdx.x == 0) {
    partial[2 * blockIdx.x] = sp[0];
    partial[2 * blockIdx.x + 1] = sd[0];
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    lars_step_kernel(optim_formula::Lars<T> f, int64_t n, T* p, const T* g, T* mu, const double* partial, int blocks) {
  // Every block adds the partial sums in the same fixed order: the same ratio everywhere.
  __shared__ double sp[kThreads], sd[kThreads];
  double a = 0, b = 0;
  for (int k = threadIdx.x; k < blocks; k += kThreads) {
    a += partial[2 * k];
    b += partial[2 * k + 1];
  }
  block_sum2(a, b, sp, sd);
  const T q = f.ratio(sp[0], sd[0]);
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) f(i, p, g, mu, q);
}

template <class T>
T* dptr_or_null(const Tensor& t) {
  return t.defined() ? dptr<T>(t) : nullptr;
}

template <class T, class Formula>
void launch_step(CudaBackend& be, const Formula& f, const Tensor& p, const Tensor& g, const Tensor& s1,
                 const Tensor& s2) {
  const int64_t n = p.numel();
  step_kernel<T, Formula><<<be.blocks_for(n, kThreads), kThreads, 0, be.stream()>>>(
      f, n, dptr<T>(p), dptr<T>(g), dptr_or_null<T>(s1), dptr_or_null<T>(s2));
  MOCO_CUDA_CHECK_LAUNCH();
}

template <class T>
void launch_lars(CudaBackend& be, const optim_formula::Lars<T>& f, const Tensor& p, const Tensor& g,
                 const Tensor& mu) {
  const int64_t n = p.numel();
  const int blocks = f.adapt ? std::min(be.blocks_for(n, kThreads), kMaxNormBlocks) : 0;
  Scratch partial(be, size_t(std::max(blocks, 1)) * 2 * sizeof(double));
  if (blocks > 0) {
    lars_partial_norms<T><<<blocks, kThreads, 0, be.stream()>>>(f, n, dptr<T>(p), dptr<T>(g), partial.as<double>());
    MOCO_CUDA_CHECK_LAUNCH();
  }
  lars_step_kernel<T><<<be.blocks_for(n, kThreads), kThreads, 0, be.stream()>>>(
      f, n, dptr<T>(p), dptr<T>(g), dptr<T>(mu), partial.as<double>(), blocks);
  MOCO_CUDA_CHECK_LAUNCH();
}

}  // namespace

void CudaBackend::optim_step(const OptimStep& s, const Tensor& p, const Tensor& g, const Tensor& s1,
                             const Tensor& s2) {
  if (p.numel() == 0) return;
  activate();
  dispatch_float(p.dtype(), "optim_step (cuda)", [&](auto tag) {
    using T = typename decltype(tag)::type;
    switch (s.kind) {
      case OptimKind::ema: return launch_step<T>(*this, optim_formula::Ema<T>(s), p, g, s1, s2);
      case OptimKind::sgd: return launch_step<T>(*this, optim_formula::Sgd<T>(s), p, g, s1, s2);
      case OptimKind::adamw: return launch_step<T>(*this, optim_formula::AdamW<T>(s), p, g, s1, s2);
      case OptimKind::lars: return launch_lars<T>(*this, optim_formula::Lars<T>(s), p, g, s1);
    }
  });
}

}  // namespace moco::cuda
