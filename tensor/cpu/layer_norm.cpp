// Layer norm over the rows of contiguous [rows, len] data: one fused pass per
// row forward (statistics + affine map) and one backward (dx together with
// this row's share of dw/db). Row statistics accumulate in double; the
// `omp simd reduction` lets those sums vectorise (plain loops would keep
// them scalar to preserve the addition order).
#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/loops.h"

namespace moco::cpu {

namespace {

struct Rows {
  int64_t rows, len;
};
Rows rows_of(const Tensor& x, const Tensor& mean) {
  const int64_t rows = mean.numel();
  return {rows, rows == 0 ? 0 : x.numel() / rows};
}

// w and b as pointers even when undefined (ones and zeros): one loop body.
template <class T>
struct Affine {
  std::vector<T> fill;
  const T* w;
  const T* b;
  Affine(const Tensor& wt, const Tensor& bt, int64_t len) {
    if (!wt.defined() || !bt.defined()) {
      fill.assign(size_t(2 * len), T(0));
      std::fill(fill.begin(), fill.begin() + len, T(1));
    }
    w = wt.defined() ? ptr<T>(wt) : fill.data();
    b = bt.defined() ? ptr<T>(bt) : fill.data() + len;
  }
};

}  // namespace

void CpuBackend::layer_norm(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                            const Tensor& w, const Tensor& b, double eps) {
  const Rows d = rows_of(x, mean);
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag_) {
    using T = typename decltype(tag_)::type;
    const Affine<T> aff(w, b, d.len);
    const T* px = ptr<T>(x);
    T *py = ptr<T>(y), *pm = ptr<T>(mean), *pr = ptr<T>(rstd);
    const T *pw = aff.w, *pb = aff.b;
    const int64_t len = d.len;
#pragma omp parallel for schedule(static) if (x.numel() > kParallelGrain)
    for (int64_t r = 0; r < d.rows; ++r) {
      const T* in = px + r * len;
      T* out = py + r * len;
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < len; ++i) s += in[i];
      const double m = s / double(len);
      double ss = 0;  // two passes: the variance stays accurate for large means
#pragma omp simd reduction(+ : ss)
      for (int64_t i = 0; i < len; ++i) ss += (in[i] - m) * (in[i] - m);
      const T mt = T(m), rt = T(1.0 / std::sqrt(ss / double(len) + eps));
      for (int64_t i = 0; i < len; ++i) out[i] = (in[i] - mt) * rt * pw[i] + pb[i];
      pm[r] = mt;
      pr[r] = rt;
    }
  });
}

void CpuBackend::layer_norm_backward(const Tensor& dx, const Tensor& dw, const Tensor& db, const Tensor& dy,
                                     const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& w) {
  const Rows d = rows_of(x, mean);
  dispatch_float(x.dtype(), "layer_norm_backward", [&](auto tag_) {
    using T = typename decltype(tag_)::type;
    const int64_t rows = d.rows, len = d.len;
    const Affine<T> aff(w, Tensor(), len);
    const T *px = ptr<T>(x), *pg = ptr<T>(dy), *pm = ptr<T>(mean), *pr = ptr<T>(rstd), *pw = aff.w;
    T* pdx = dx.defined() ? ptr<T>(dx) : nullptr;
    const bool params = dw.defined() || db.defined();
    // dw/db: each block of rows sums into its own double partials, which are
    // then added in block order. The blocks depend on `rows` only, so the
    // result is the same for every thread count and never races.
    const int64_t block = std::max<int64_t>(64, (rows + 63) / 64);
    const int64_t nblocks = (rows + block - 1) / block;
    std::vector<double> partial(params ? size_t(nblocks * 2 * len) : 0, 0.0);
#pragma omp parallel for schedule(static) if (x.numel() > kParallelGrain)
    for (int64_t blk = 0; blk < nblocks; ++blk) {
      double* sw = params ? partial.data() + blk * 2 * len : nullptr;
      double* sb = params ? sw + len : nullptr;
      for (int64_t r = blk * block; r < std::min(rows, (blk + 1) * block); ++r) {
        const T *in = px + r * len, *g = pg + r * len;
        const T m = pm[r], rs = pr[r];
        double a = 0, c = 0;  // sums of dy*w and dy*w*xhat over the row
#pragma omp simd reduction(+ : a, c)
        for (int64_t i = 0; i < len; ++i) {
          const T gw = g[i] * pw[i];
          a += gw;
          c += gw * ((in[i] - m) * rs);
        }
        if (params) {
          for (int64_t i = 0; i < len; ++i) {
            sw[i] += double(g[i]) * double((in[i] - m) * rs);
            sb[i] += g[i];
          }
        }
        if (pdx) {
          // dx = rstd * (dy*w - mean(dy*w) - xhat * mean(dy*w*xhat))
          const T ka = T(a / double(len)), kc = T(c / double(len));
          T* o = pdx + r * len;
          for (int64_t i = 0; i < len; ++i) o[i] = rs * (g[i] * pw[i] - ka - (in[i] - m) * rs * kc);
        }
      }
    }
    if (!params) return;
    T* pdw = dw.defined() ? ptr<T>(dw) : nullptr;
    T* pdb = db.defined() ? ptr<T>(db) : nullptr;
    for (int64_t i = 0; i < len; ++i) {
      double s = 0, t = 0;
      for (int64_t blk = 0; blk < nblocks; ++blk) {
        s += partial[size_t((blk * 2) * len + i)];
        t += partial[size_t((blk * 2 + 1) * len + i)];
      }
      if (pdw) pdw[i] = T(s);
      if (pdb) pdb[i] = T(t);
    }
  });
}

}  // namespace moco::cpu
