// Row and column reductions and softmax on contiguous [rows, len] data.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/fast_math.h"
#include "tensor/cpu/loops.h"

namespace moco::cpu {

void CpuBackend::reduce_rows(ReduceOp op, const Tensor& out, const Tensor* indices, const Tensor& x) {
  const int64_t rows = out.numel();
  const int64_t len = rows == 0 ? 0 : x.numel() / rows;
  dispatch_all(x.dtype(), "reduce", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    using T = scalar_t;
    const T* px = ptr<T>(x);
    T* po = ptr<T>(out);
    int64_t* pi = indices ? ptr<int64_t>(*indices) : nullptr;
#pragma omp parallel for schedule(static) if (x.numel() > 32768 && rows > 1)
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = px + r * len;
      if (op == ReduceOp::sum) {
        // Accumulate in double: sums over a whole batch stay accurate in float32.
        double acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < len; ++i) acc += row[i];
        po[r] = T(acc);
      } else {
        MOCO_CHECK(len > 0, "max/min: cannot reduce over an empty dim");
        int64_t best = 0;
        for (int64_t i = 1; i < len; ++i) {
          bool better = op == ReduceOp::max ? row[i] > row[best] : row[i] < row[best];
          if constexpr (std::is_floating_point_v<T>) better = better || (std::isnan(row[i]) && !std::isnan(row[best]));
          if (better) best = i;
        }
        po[r] = row[best];
        if (pi) pi[r] = best;
      }
    }
  });
}

// e^v for v <= 0 (softmax's shifted logits): float32 on the vectorisable exp
// of fast_math.h (libm's scalar expf dominated softmax), float64 on libm.
static inline float exp_nonpos(float v) { return fast::exp_neg(-v); }
static inline double exp_nonpos(double v) { return std::exp(v); }

// One row at a time; the `omp simd reduction`s let the row sums and the max
// vectorise (plain loops keep them scalar to preserve the addition order).
// A NaN anywhere in a row makes the whole row NaN, as the exp of it joins the sum.
void CpuBackend::sum_cols(const Tensor& out, const Tensor& x) {
  const int64_t cols = out.numel();
  const int64_t rows = cols == 0 ? 0 : x.numel() / cols;
  dispatch_all(x.dtype(), "sum", [&](auto tag_) {
    using T = typename decltype(tag_)::type;
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;
    const T* px = ptr<T>(x);
    T* po = ptr<T>(out);
    // Each block of rows adds into its own partial row, vectorised along the
    // columns; the partials are then added in block order. The blocks depend
    // on `rows` only: the same result for every thread count.
    const int64_t block = std::max<int64_t>(64, (rows + 63) / 64);
    const int64_t nblocks = std::max<int64_t>(1, (rows + block - 1) / block);
    std::vector<Acc> partial(size_t(nblocks * cols), Acc(0));
#pragma omp parallel for schedule(static) if (x.numel() > kParallelGrain && nblocks > 1)
    for (int64_t b = 0; b < nblocks; ++b) {
      Acc* acc = partial.data() + b * cols;
      for (int64_t r = b * block; r < std::min(rows, (b + 1) * block); ++r) {
        const T* row = px + r * cols;
        for (int64_t j = 0; j < cols; ++j) acc[j] += row[j];
      }
    }
    for (int64_t j = 0; j < cols; ++j) {
      Acc s = 0;
      for (int64_t b = 0; b < nblocks; ++b) s += partial[size_t(b * cols + j)];
      po[j] = T(s);
    }
  });
}

void CpuBackend::softmax(const Tensor& out, const Tensor& x, bool log) {
  const int64_t len = x.shape().back();
  const int64_t rows = len == 0 ? 0 : x.numel() / len;
  dispatch_float(x.dtype(), "softmax", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    using T = scalar_t;
    const T* px = ptr<T>(x);
    T* po = ptr<T>(out);
#pragma omp parallel for schedule(static) if (x.numel() > 16384)
    for (int64_t r = 0; r < rows; ++r) {
      const T* in = px + r * len;
      T* o = po + r * len;
      T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
      for (int64_t i = 0; i < len; ++i) m = in[i] > m ? in[i] : m;
      double s = 0;
      if (log) {
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < len; ++i) s += exp_nonpos(in[i] - m);
        const T lse = T(std::log(s)) + m;
        for (int64_t i = 0; i < len; ++i) o[i] = in[i] - lse;
      } else {
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < len; ++i) {
          const T e = exp_nonpos(in[i] - m);
          o[i] = e;
          s += e;
        }
        const T inv = T(1.0 / s);
        for (int64_t i = 0; i < len; ++i) o[i] *= inv;
      }
    }
  });
}

void CpuBackend::softmax_backward(const Tensor& dx, const Tensor& y, const Tensor& dy, bool log) {
  const int64_t len = y.shape().back();
  const int64_t rows = len == 0 ? 0 : y.numel() / len;
  dispatch_float(y.dtype(), "softmax_backward", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    using T = scalar_t;
    const T* py = ptr<T>(y);
    const T* pdy = ptr<T>(dy);
    T* pdx = ptr<T>(dx);
#pragma omp parallel for schedule(static) if (y.numel() > 16384)
    for (int64_t r = 0; r < rows; ++r) {
      const T* yr = py + r * len;
      const T* gr = pdy + r * len;
      T* o = pdx + r * len;
      double s = 0;
      if (log) {  // dx = dy - softmax * sum(dy); y = log softmax <= 0 (up to rounding)
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < len; ++i) s += gr[i];
        for (int64_t i = 0; i < len; ++i) o[i] = gr[i] - exp_nonpos(yr[i]) * T(s);
      } else {  // dx = y * (dy - sum(dy * y))
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < len; ++i) s += double(gr[i]) * yr[i];
        for (int64_t i = 0; i < len; ++i) o[i] = yr[i] * (gr[i] - T(s));
      }
    }
  });
}

}  // namespace moco::cpu
