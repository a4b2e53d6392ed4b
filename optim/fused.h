// The fused CPU loops behind the optimisers: one pass over a parameter's
// elements per step, OpenMP-parallel for large tensors. Used when every
// tensor involved is a contiguous CPU float32/float64 tensor; otherwise the
// optimisers fall back to composed tensor ops (any device).
#pragma once
#include <initializer_list>

#include "optim/optimizer.h"

namespace moco::optim::detail {

inline bool fusable(std::initializer_list<const Tensor*> ts) {
  if (!Optimizer::fused_cpu()) return false;
  const Tensor& first = **ts.begin();
  for (const Tensor* t : ts)
    if (!t->device().is_cpu() || !t->is_contiguous() || t->dtype() != first.dtype() || !is_floating(t->dtype()))
      return false;
  return true;
}

template <class F>
void parallel_for(int64_t n, F&& f) {
#pragma omp parallel for simd if (n >= (1 << 15)) schedule(static)
  for (int64_t i = 0; i < n; ++i) f(i);
}

// Sum of squares, accumulated in double.
template <class T, class F>
double sum_squares(int64_t n, F&& value) {
  double s = 0;
#pragma omp parallel for reduction(+ : s) if (n >= (1 << 15)) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const double v = double(value(i));
    s += v * v;
  }
  return s;
}

}  // namespace moco::optim::detail
