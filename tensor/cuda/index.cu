// Indexing kernels on contiguous tensors viewed as [outer, size along dim,
// inner], one thread per element (tensor/cpu/index.cpp is the reference).
// index_add and scatter_add accumulate with atomicAdd: repeated indices add
// up, in an order that may differ from run to run (float sums then differ
// in the last bits). An out-of-range index is skipped and recorded in the
// backend's error slot; the next synchronisation throws naming it.
#include "tensor/cuda/strided.cuh"

namespace moco::cuda {

namespace {

constexpr int kThreads = 256;

struct Split3 {
  int64_t outer, mid, inner;
};
Split3 split3(const Shape& s, int64_t dim) {
  Split3 r{1, s.empty() ? 1 : s[size_t(dim)], 1};
  for (int64_t i = 0; i < dim; ++i) r.outer *= s[size_t(i)];
  for (size_t i = size_t(dim) + 1; i < s.size(); ++i) r.inner *= s[i];
  return r;
}

__device__ __forceinline__ bool in_range(int64_t v, int64_t size, DeviceError* err, int op) {
  if (v >= 0 && v < size) return true;
  if (atomicCAS(&err->code, 0, op) == 0) {
    err->value = v;
    err->size = size;
  }
  return false;
}

__device__ __forceinline__ void atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(double* p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(int64_t* p, int64_t v) {
  atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));  // two's complement
}

// out[o, j, i] = x[o, idx[j], i]
template <class T>
__global__ void index_select_kernel(T* out, const T* x, const int64_t* idx, int64_t n, int64_t mid, int64_t inner,
                                    int64_t total, DeviceError* err) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += step) {
    const int64_t i = k % inner, oj = k / inner, j = oj % n, o = oj / n;
    const int64_t v = idx[j];
    out[k] = in_range(v, mid, err, kErrIndexSelect) ? x[(o * mid + v) * inner + i] : T(0);
  }
}

// out[o, idx[j], i] += src[o, j, i]
template <class T>
__global__ void index_add_kernel(T* out, const T* src, const int64_t* idx, int64_t n, int64_t mid, int64_t inner,
                                 int64_t total, DeviceError* err) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += step) {
    const int64_t i = k % inner, oj = k / inner, j = oj % n, o = oj / n;
    const int64_t v = idx[j];
    if (in_range(v, mid, err, kErrIndexAdd)) atomic_add(out + (o * mid + v) * inner + i, src[k]);
  }
}

// out[o, j, i] = x[o, idx[o, j, i], i]   (index and out: [outer, n, inner]; x: [outer, mid, inner])
template <class T>
__global__ void gather_kernel(T* out, const T* x, const int64_t* idx, int64_t n, int64_t mid, int64_t inner,
                              int64_t total, DeviceError* err) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += step) {
    const int64_t i = k % inner, o = k / inner / n;
    const int64_t v = idx[k];
    out[k] = in_range(v, mid, err, kErrGather) ? x[(o * mid + v) * inner + i] : T(0);
  }
}

// out[o, idx[o, j, i], i] += src[o, j, i]
template <class T>
__global__ void scatter_add_kernel(T* out, const T* src, const int64_t* idx, int64_t n, int64_t mid, int64_t inner,
                                   int64_t total, DeviceError* err) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += step) {
    const int64_t i = k % inner, o = k / inner / n;
    const int64_t v = idx[k];
    if (in_range(v, mid, err, kErrScatterAdd)) atomic_add(out + (o * mid + v) * inner + i, src[k]);
  }
}

void check_index_tensor(const Tensor& index, const char* op) {
  MOCO_CHECK(index.dtype() == DType::i64 && index.is_contiguous(), "{} (cuda): the index must be contiguous int64",
             op);
}

}  // namespace

void CudaBackend::index_select(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  activate();
  check_index_tensor(index, "index_select");
  const Split3 sx = split3(x.shape(), dim);
  const int64_t n = index.numel(), total = out.numel();
  if (total == 0) return;
  dispatch_all(x.dtype(), "index_select", [&](auto tag) {
    using T = typename decltype(tag)::type;
    index_select_kernel<T><<<blocks_for(total, kThreads), kThreads, 0, stream_>>>(
        dptr<T>(out), dptr<T>(x), dptr<int64_t>(index), n, sx.mid, sx.inner, total, error_dev_);
    MOCO_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  activate();
  check_index_tensor(index, "index_add");
  const Split3 so = split3(out.shape(), dim);
  const int64_t n = index.numel(), total = src.numel();
  if (total == 0) return;
  dispatch_all(out.dtype(), "index_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    index_add_kernel<T><<<blocks_for(total, kThreads), kThreads, 0, stream_>>>(
        dptr<T>(out), dptr<T>(src), dptr<int64_t>(index), n, so.mid, so.inner, total, error_dev_);
    MOCO_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::gather(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  activate();
  check_index_tensor(index, "gather");
  const Split3 sx = split3(x.shape(), dim), si = split3(index.shape(), dim);
  const int64_t total = index.numel();
  if (total == 0) return;
  dispatch_all(x.dtype(), "gather", [&](auto tag) {
    using T = typename decltype(tag)::type;
    gather_kernel<T><<<blocks_for(total, kThreads), kThreads, 0, stream_>>>(
        dptr<T>(out), dptr<T>(x), dptr<int64_t>(index), si.mid, sx.mid, sx.inner, total, error_dev_);
    MOCO_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  activate();
  check_index_tensor(index, "scatter_add");
  const Split3 so = split3(out.shape(), dim), si = split3(index.shape(), dim);
  const int64_t total = index.numel();
  if (total == 0) return;
  dispatch_all(out.dtype(), "scatter_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    scatter_add_kernel<T><<<blocks_for(total, kThreads), kThreads, 0, stream_>>>(
        dptr<T>(out), dptr<T>(src), dptr<int64_t>(index), si.mid, so.mid, so.inner, total, error_dev_);
    MOCO_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace moco::cuda
