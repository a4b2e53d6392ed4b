// The optimiser and EMA update formulas, one element at a time: the single
// definition that every backend runs (the CPU loop in tensor/cpu/optim_step.cpp,
// the CUDA kernel in tensor/cuda/optim_step.cu), reached through
// Backend::optim_step and, above it, optim::fused_step (optim/fused.h).
//
//   EMA    k ← m·k + (1 − m)·q                                (MoCo's key encoder)
//   SGD    d = g + wd·p;  b = d (first step) or μ·b + (1 − dampening)·d;
//          d = nesterov ? d + μ·b : b;  p ← p − lr·d           (torch.optim.SGD)
//   AdamW  m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²;
//          p ← p·(1 − lr·wd) − step_size · m / (√v / √(1 − β2^t) + eps),
//          step_size = lr / (1 − β1^t)                        (torch.optim.AdamW)
//   LARS   d = g + wd·p, scaled by trust·‖p‖/‖d‖ (1 when a norm is 0) when
//          adapt (parameters with more than one dim), else d = g;
//          μ = momentum·μ + d;  p ← p − lr·μ                   (MoCo v3's LARS)
//
// The scalars are cast to the element type once, and every expression is
// written in that type, so float32 runs in float32 as PyTorch's loops do.
#pragma once
#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define MOCO_HOST_DEVICE __host__ __device__
#else
#define MOCO_HOST_DEVICE
#endif

namespace moco {

enum class OptimKind { ema, sgd, adamw, lars };

// The scalars of one update (of one tensor), as the caller computed them.
struct OptimStep {
  OptimKind kind = OptimKind::ema;
  double lr = 0, weight_decay = 0;
  double momentum = 0;        // EMA: m; SGD and LARS: the momentum μ
  double dampening = 0;       // SGD
  bool nesterov = false;      // SGD
  bool first = false;         // SGD: the momentum buffer is new (it takes d)
  double beta1 = 0, beta2 = 0, eps = 0;  // AdamW
  double step_size = 0;                  // AdamW: lr / (1 − β1^t)
  double bias_correction2_sqrt = 1;      // AdamW: √(1 − β2^t)
  double trust = 0;           // LARS: the trust coefficient
  bool adapt = false;         // LARS: scale by the trust ratio
};

namespace optim_formula {

// Each formula updates element i of the parameter p (EMA: the key k) from
// g (EMA: the query q) and the state tensors s1, s2 it keeps.

template <class T>
struct Ema {
  T m, one_minus_m;
  explicit Ema(const OptimStep& s) : m(T(s.momentum)), one_minus_m(T(1.0 - s.momentum)) {}
  MOCO_HOST_DEVICE void operator()(int64_t i, T* k, const T* q, T*, T*) const { k[i] = k[i] * m + q[i] * one_minus_m; }
};

template <class T>
struct Sgd {  // s1: the momentum buffer (null without momentum)
  T wd, mom, one_minus_damp, neg_lr;
  bool has_wd, nesterov, first;
  explicit Sgd(const OptimStep& s)
      : wd(T(s.weight_decay)), mom(T(s.momentum)), one_minus_damp(T(1 - s.dampening)), neg_lr(T(-s.lr)),
        has_wd(s.weight_decay != 0), nesterov(s.nesterov), first(s.first) {}
  MOCO_HOST_DEVICE void operator()(int64_t i, T* p, const T* g, T* b, T*) const {
    T d = has_wd ? g[i] + wd * p[i] : g[i];
    if (b) {
      b[i] = first ? d : b[i] * mom + one_minus_damp * d;
      d = nesterov ? d + mom * b[i] : b[i];
    }
    p[i] = p[i] + neg_lr * d;
  }
};

template <class T>
struct AdamW {  // s1: exp_avg, s2: exp_avg_sq
  T decay, b1, b2, one_minus_b1, one_minus_b2, bc2_sqrt, eps, neg_step;
  explicit AdamW(const OptimStep& s)
      : decay(T(1 - s.lr * s.weight_decay)), b1(T(s.beta1)), b2(T(s.beta2)), one_minus_b1(T(1 - s.beta1)),
        one_minus_b2(T(1 - s.beta2)), bc2_sqrt(T(s.bias_correction2_sqrt)), eps(T(s.eps)), neg_step(T(-s.step_size)) {}
  MOCO_HOST_DEVICE void operator()(int64_t i, T* p, const T* g, T* m, T* v) const {
    const T gi = g[i];
    m[i] = m[i] * b1 + one_minus_b1 * gi;
    v[i] = v[i] * b2 + one_minus_b2 * (gi * gi);
    const T denom = std::sqrt(v[i]) / bc2_sqrt + eps;
    p[i] = p[i] * decay + neg_step * (m[i] / denom);
  }
};

template <class T>
struct Lars {  // s1: mu. A backend first sums p² and decayed(i)² (in double), then runs the update with ratio().
  T wd, mom, neg_lr, trust;
  bool adapt;
  explicit Lars(const OptimStep& s)
      : wd(T(s.weight_decay)), mom(T(s.momentum)), neg_lr(T(-s.lr)), trust(T(s.trust)), adapt(s.adapt) {}
  // g + wd·p: the update whose norm the trust ratio divides by.
  MOCO_HOST_DEVICE T decayed(int64_t i, const T* p, const T* g) const { return g[i] + wd * p[i]; }
  // trust·‖p‖/‖d‖ from the sums of squares (1 without adaptation or when a norm is 0).
  MOCO_HOST_DEVICE T ratio(double p_sq, double d_sq) const {
    if (!adapt) return T(1);
    const T pn = T(std::sqrt(p_sq)), dn = T(std::sqrt(d_sq));
    return pn > 0 && dn > 0 ? trust * pn / dn : T(1);
  }
  MOCO_HOST_DEVICE void operator()(int64_t i, T* p, const T* g, T* mu, T q) const {
    const T d = adapt ? decayed(i, p, g) * q : g[i];
    mu[i] = mu[i] * mom + d;
    p[i] = p[i] + neg_lr * mu[i];
  }
};

}  // namespace optim_formula
}  // namespace moco
