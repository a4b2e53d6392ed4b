#include "optim/adamw.h"

#include <cmath>

#include "autograd/ops.h"
#include "optim/fused.h"

namespace moco::optim {

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWConfig& cfg)
    : Optimizer(std::move(groups), cfg.lr, cfg.weight_decay), cfg_(cfg) {
  MOCO_CHECK(cfg.lr >= 0 && cfg.eps >= 0 && cfg.weight_decay >= 0, "AdamW: lr {}, eps {}, weight_decay {} must be >= 0",
             cfg.lr, cfg.eps, cfg.weight_decay);
  MOCO_CHECK(cfg.beta1 >= 0 && cfg.beta1 < 1 && cfg.beta2 >= 0 && cfg.beta2 < 1,
             "AdamW: betas ({}, {}) must lie in [0, 1)", cfg.beta1, cfg.beta2);
}

AdamW::AdamW(const std::vector<Tensor>& params, const AdamWConfig& cfg)
    : AdamW(std::vector<ParamGroup>{group_of(params)}, cfg) {}

void AdamW::update(const Tensor& p, const Tensor& g, const ParamGroup& group, State& st) {
  const double lr = group.lr, wd = group.weight_decay, b1 = cfg_.beta1, b2 = cfg_.beta2, eps = cfg_.eps;
  if (!st.tensors.count("exp_avg")) {
    st.tensors["exp_avg"] = Tensor::zeros_like(p);
    st.tensors["exp_avg_sq"] = Tensor::zeros_like(p);
  }
  const Tensor& m = st.tensors["exp_avg"];
  const Tensor& v = st.tensors["exp_avg_sq"];
  const double t = double(st.step);
  const double bc1 = 1 - std::pow(b1, t), bc2 = 1 - std::pow(b2, t);
  const double step_size = lr / bc1, bc2_sqrt = std::sqrt(bc2);

  if (detail::fusable({&p, &g, &m, &v})) {
    dispatch_float(p.dtype(), "AdamW", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T *P = p.data<T>(), *M = m.data<T>(), *V = v.data<T>();
      const T* G = g.data<T>();
      const T decay = T(1 - lr * wd), Tb1 = T(b1), Tb2 = T(b2), c1 = T(1 - b1), c2 = T(1 - b2);
      const T Tbc2 = T(bc2_sqrt), Teps = T(eps), Tstep = T(-step_size);
      detail::parallel_for(p.numel(), [&](int64_t i) {
        const T gi = G[i];
        M[i] = M[i] * Tb1 + c1 * gi;
        V[i] = V[i] * Tb2 + c2 * (gi * gi);
        const T denom = std::sqrt(V[i]) / Tbc2 + Teps;
        P[i] = P[i] * decay + Tstep * (M[i] / denom);
      });
    });
    return;
  }
  p.mul_(1 - lr * wd);
  m.mul_(b1).add_(g, 1 - b1);
  v.mul_(b2).add_(mul(g, g), 1 - b2);
  Tensor denom = add(mul(sqrt(v), 1.0 / bc2_sqrt), eps);
  p.add_(div(m, denom), -step_size);
}

}  // namespace moco::optim
