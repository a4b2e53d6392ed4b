// Per-channel kernels for batch norm over contiguous [N, C, S] data: one
// thread per channel, each walking its N planes of S contiguous values.
#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/loops.h"

namespace moco::cpu {

namespace {
struct NCS {
  int64_t N, C, S;
};
NCS ncs_of(const Tensor& x, const Tensor& per_channel) {
  NCS d{x.size(0), per_channel.numel(), 0};
  d.S = d.N * d.C == 0 ? 0 : x.numel() / (d.N * d.C);
  return d;
}
}  // namespace

void CpuBackend::channel_moments(const Tensor& x, const Tensor& mean, const Tensor& var) {
  const NCS d = ncs_of(x, mean);
  dispatch_float(x.dtype(), "channel_moments", [&](auto tag_) {
    using T = typename decltype(tag_)::type;
    const T* px = ptr<T>(x);
    T* pm = ptr<T>(mean);
    T* pv = ptr<T>(var);
    const double count = double(d.N * d.S);
#pragma omp parallel for schedule(static) if (x.numel() > kParallelGrain)
    for (int64_t c = 0; c < d.C; ++c) {
      double s = 0;
      for (int64_t n = 0; n < d.N; ++n) {
        const T* p = px + (n * d.C + c) * d.S;
        for (int64_t i = 0; i < d.S; ++i) s += p[i];
      }
      const double m = s / count;
      double ss = 0;  // two passes: the variance stays accurate for large means
      for (int64_t n = 0; n < d.N; ++n) {
        const T* p = px + (n * d.C + c) * d.S;
        for (int64_t i = 0; i < d.S; ++i) ss += (p[i] - m) * (p[i] - m);
      }
      pm[c] = T(m);
      pv[c] = T(ss / count);
    }
  });
}

void CpuBackend::channel_grad_sums(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& sum_dy,
                                   const Tensor& sum_dy_xmu) {
  const NCS d = ncs_of(x, mean);
  dispatch_float(x.dtype(), "channel_grad_sums", [&](auto tag_) {
    using T = typename decltype(tag_)::type;
    const T *px = ptr<T>(x), *pg = ptr<T>(dy), *pm = ptr<T>(mean);
    T *ps = ptr<T>(sum_dy), *psx = ptr<T>(sum_dy_xmu);
#pragma omp parallel for schedule(static) if (x.numel() > kParallelGrain)
    for (int64_t c = 0; c < d.C; ++c) {
      double s = 0, sx = 0;
      const T m = pm[c];
      for (int64_t n = 0; n < d.N; ++n) {
        const T* p = px + (n * d.C + c) * d.S;
        const T* g = pg + (n * d.C + c) * d.S;
        for (int64_t i = 0; i < d.S; ++i) {
          s += g[i];
          sx += g[i] * (p[i] - m);
        }
      }
      ps[c] = T(s);
      psx[c] = T(sx);
    }
  });
}

void CpuBackend::channel_affine(const Tensor& out, const Tensor& x, const Tensor& scale, const Tensor& shift,
                                const Tensor& x2, const Tensor& scale2) {
  const NCS d = ncs_of(x, scale);
  dispatch_float(x.dtype(), "channel_affine", [&](auto tag_) {
    using T = typename decltype(tag_)::type;
    const T *px = ptr<T>(x), *pa = ptr<T>(scale), *pb = ptr<T>(shift);
    const T* px2 = x2.defined() ? ptr<T>(x2) : nullptr;
    const T* pa2 = x2.defined() ? ptr<T>(scale2) : nullptr;
    T* po = ptr<T>(out);
#pragma omp parallel for collapse(2) schedule(static) if (x.numel() > kParallelGrain)
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t c = 0; c < d.C; ++c) {
        const int64_t o = (n * d.C + c) * d.S;
        const T a = pa[c], b = pb[c];
        if (px2) {
          const T a2 = pa2[c];
          for (int64_t i = 0; i < d.S; ++i) po[o + i] = px[o + i] * a + px2[o + i] * a2 + b;
        } else {
          for (int64_t i = 0; i < d.S; ++i) po[o + i] = px[o + i] * a + b;
        }
      }
  });
}

}  // namespace moco::cpu
