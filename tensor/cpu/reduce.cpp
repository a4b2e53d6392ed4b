// Row reductions and softmax on contiguous [rows, len] data.
#include <cmath>
#include <limits>

#include "tensor/cpu/cpu_backend.h"

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
      for (int64_t i = 0; i < len; ++i) m = std::max(m, in[i]);
      double s = 0;
      for (int64_t i = 0; i < len; ++i) s += std::exp(double(in[i] - m));
      if (log) {
        const T lse = T(std::log(s)) + m;
        for (int64_t i = 0; i < len; ++i) o[i] = in[i] - lse;
      } else {
        const T inv = T(1.0 / s);
        for (int64_t i = 0; i < len; ++i) o[i] = std::exp(in[i] - m) * inv;
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
      if (log) {  // dx = dy - softmax * sum(dy)
        for (int64_t i = 0; i < len; ++i) s += gr[i];
        for (int64_t i = 0; i < len; ++i) o[i] = gr[i] - std::exp(yr[i]) * T(s);
      } else {  // dx = y * (dy - sum(dy * y))
        for (int64_t i = 0; i < len; ++i) s += double(gr[i]) * yr[i];
        for (int64_t i = 0; i < len; ++i) o[i] = yr[i] * (gr[i] - T(s));
      }
    }
  });
}

}  // namespace moco::cpu
