// The optimiser and EMA updates on the CPU: one OpenMP pass over the
// elements, running the formulas of tensor/optim_step.h (LARS first sums the
// two squared norms it needs, in double).
#include "tensor/cpu/cpu_backend.h"

namespace moco::cpu {

namespace {

// Small tensors stay on one thread: waking the workers costs more.
constexpr int64_t kParallelFrom = 1 << 15;

template <class F>
void parallel_for(int64_t n, F&& f) {
#pragma omp parallel for simd if (n >= kParallelFrom) schedule(static)
  for (int64_t i = 0; i < n; ++i) f(i);
}

// Sum of squares, accumulated in double.
template <class F>
double sum_squares(int64_t n, F&& value) {
  double s = 0;
#pragma omp parallel for reduction(+ : s) if (n >= kParallelFrom) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const double v = double(value(i));
    s += v * v;
  }
  return s;
}

template <class T>
T* ptr_or_null(const Tensor& t) {
  return t.defined() ? ptr<T>(t) : nullptr;
}

template <class T, class Formula>
void run(const Formula& f, const Tensor& p, const Tensor& g, const Tensor& s1, const Tensor& s2) {
  T *P = ptr<T>(p), *S1 = ptr_or_null<T>(s1), *S2 = ptr_or_null<T>(s2);
  const T* G = ptr<T>(g);
  parallel_for(p.numel(), [&](int64_t i) { f(i, P, G, S1, S2); });
}

}  // namespace

void CpuBackend::optim_step(const OptimStep& s, const Tensor& p, const Tensor& g, const Tensor& s1,
                            const Tensor& s2) {
  dispatch_float(p.dtype(), "optim_step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    switch (s.kind) {
      case OptimKind::ema: return run<T>(optim_formula::Ema<T>(s), p, g, s1, s2);
      case OptimKind::sgd: return run<T>(optim_formula::Sgd<T>(s), p, g, s1, s2);
      case OptimKind::adamw: return run<T>(optim_formula::AdamW<T>(s), p, g, s1, s2);
      case OptimKind::lars: {
        const optim_formula::Lars<T> f(s);
        T *P = ptr<T>(p), *MU = ptr<T>(s1);
        const T* G = ptr<T>(g);
        const int64_t n = p.numel();
        T q = 1;
        if (s.adapt)
          q = f.ratio(sum_squares(n, [&](int64_t i) { return P[i]; }),
                      sum_squares(n, [&](int64_t i) { return f.decayed(i, P, G); }));
        parallel_for(n, [&](int64_t i) { f(i, P, G, MU, q); });
        return;
      }
    }
  });
}

}  // namespace moco::cpu
