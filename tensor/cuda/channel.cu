// Batch norm's per-channel kernels (the CPU's twin: tensor/cpu/channel.cpp).
//
// Batch-norm statistics: grid (C, P) blocks, each summing part of one
// channel's N*S values into double partials, then one thread per channel adds
// its P partials in a fixed order (deterministic, no atomics). The variance
// is one pass over data shifted by the channel's first value (accurate in
// double for any float32 data).
//
// channel_affine: out = x * scale[c] + shift[c] (+ x2 * scale2[c]), one
// grid-stride pass.
#include "tensor/cuda/rows.cuh"

namespace moco::cuda {

namespace {

// ---------------------------------------------------------------- channel sums

enum class ChannelMode { moments, grad };

// Block (c, p) sums items [p*M/P, (p+1)*M/P) of channel c (M = N*S):
// moments: a = x - K, b = (x - K)^2 with K = the channel's first value;
// grad:    a = dy,    b = dy * (x - mean[c]).
template <class T, ChannelMode kMode>
__global__ void __launch_bounds__(kThreads)
    channel_partial_sums(const T* x, const T* dy, const T* mean, double* partial, int64_t C, int64_t S, int64_t M,
                         int64_t P) {
  const int64_t c = blockIdx.x, p = blockIdx.y;
  const int64_t begin = p * M / P, end = (p + 1) * M / P;
  const double ref = kMode == ChannelMode::moments ? double(x[c * S]) : double(mean[c]);
  double sa = 0, sb = 0;
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) {
    const int64_t n = j / S, i = j - n * S;
    const int64_t k = (n * C + c) * S + i;
    const double d = double(x[k]) - ref;
    if constexpr (kMode == ChannelMode::moments) {
      sa += d;
      sb += d * d;
    } else {
      const double g = double(dy[k]);
      sa += g;
      sb += g * d;
    }
  }
  sa = group_allreduce<true>(sa, SumOp{});
  sb = group_allreduce<true>(sb, SumOp{});
  if (threadIdx.x == 0) {
    partial[(c * P + p) * 2] = sa;
    partial[(c * P + p) * 2 + 1] = sb;
  }
}

template <class T, ChannelMode kMode>
__global__ void channel_finalize(const double* partial, const T* x, T* out_a, T* out_b, int64_t C, int64_t S,
                                 int64_t M, int64_t P) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double sa = 0, sb = 0;
  add_partial_pairs(partial, c * P, 1, P, sa, sb);
  if constexpr (kMode == ChannelMode::moments) {
    const double mean_shift = sa / double(M);
    const double var = sb / double(M) - mean_shift * mean_shift;
    out_a[c] = T(double(x[c * S]) + mean_shift);
    out_b[c] = T(var > 0 ? var : 0.0);
  } else {
    out_a[c] = T(sa);
    out_b[c] = T(sb);
  }
}

template <class T, ChannelMode kMode>
void channel_sums(CudaBackend& be, const Tensor& x, const Tensor* dy, const Tensor* mean, const Tensor& out_a,
                  const Tensor& out_b) {
  const int64_t N = x.size(0), C = out_a.numel();
  const int64_t S = N * C == 0 ? 0 : x.numel() / (N * C);
  const int64_t M = N * S;
  if (C == 0) return;
  if (M == 0) {  // no values: what the CPU loops leave (0/0 for moments, 0 for sums)
    be.fill(out_a, kMode == ChannelMode::moments ? NAN : 0.0);
    be.fill(out_b, kMode == ChannelMode::moments ? NAN : 0.0);
    return;
  }
  // Enough blocks to fill the GPU, each with at least 2048 values.
  const int64_t want = (int64_t(be.sm_count()) * 4 + C - 1) / C;
  const int64_t P = std::max<int64_t>(1, std::min<int64_t>({want, (M + 2047) / 2048, 65535}));
  Scratch partial(be, size_t(C * P * 2) * sizeof(double));
  MOCO_CHECK(C <= 2147483647, "channel sums (cuda): {} channels is too many", C);
  channel_partial_sums<T, kMode><<<dim3(unsigned(C), unsigned(P)), kThreads, 0, be.stream()>>>(
      dptr<T>(x), dy ? dptr<T>(*dy) : nullptr, mean ? dptr<T>(*mean) : nullptr, partial.as<double>(), C, S, M, P);
  MOCO_CUDA_CHECK_LAUNCH();
  channel_finalize<T, kMode><<<unsigned((C + 127) / 128), 128, 0, be.stream()>>>(
      partial.as<double>(), dptr<T>(x), dptr<T>(out_a), dptr<T>(out_b), C, S, M, P);
  MOCO_CUDA_CHECK_LAUNCH();
}

// out = x * scale[c] + shift[c] (+ x2 * scale2[c]) over contiguous [N, C, S].
template <class T>
__global__ void channel_affine_kernel(T* out, const T* x, const T* scale, const T* shift, const T* x2,
                                      const T* scale2, int64_t n, int64_t C, int64_t S) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const int64_t c = (i / S) % C;
    if (x2) out[i] = x[i] * scale[c] + x2[i] * scale2[c] + shift[c];
    else out[i] = x[i] * scale[c] + shift[c];
  }
}

}  // namespace

void CudaBackend::channel_moments(const Tensor& x, const Tensor& mean, const Tensor& var) {
  activate();
  dispatch_float(x.dtype(), "channel_moments", [&](auto tag) {
    using T = typename decltype(tag)::type;
    channel_sums<T, ChannelMode::moments>(*this, x, nullptr, nullptr, mean, var);
  });
}

void CudaBackend::channel_grad_sums(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& sum_dy,
                                    const Tensor& sum_dy_xmu) {
  activate();
  dispatch_float(x.dtype(), "channel_grad_sums", [&](auto tag) {
    using T = typename decltype(tag)::type;
    channel_sums<T, ChannelMode::grad>(*this, x, &dy, &mean, sum_dy, sum_dy_xmu);
  });
}

void CudaBackend::channel_affine(const Tensor& out, const Tensor& x, const Tensor& scale, const Tensor& shift,
                                 const Tensor& x2, const Tensor& scale2) {
  activate();
  const int64_t N = x.size(0), C = scale.numel();
  const int64_t S = N * C == 0 ? 0 : x.numel() / (N * C);
  const int64_t n = x.numel();
  if (n == 0) return;
  dispatch_float(x.dtype(), "channel_affine", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px2 = x2.defined() ? dptr<T>(x2) : nullptr;
    const T* pa2 = x2.defined() ? dptr<T>(scale2) : nullptr;
    channel_affine_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(
        dptr<T>(out), dptr<T>(x), dptr<T>(scale), dptr<T>(shift), px2, pa2, n, C, S);
    MOCO_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace moco::cuda
