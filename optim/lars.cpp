#include "optim/lars.h"

#include <cmath>

#include "autograd/ops.h"
#include "optim/fused.h"

namespace moco::optim {

LARS::LARS(std::vector<ParamGroup> groups, const LARSConfig& cfg)
    : Optimizer(std::move(groups), cfg.lr, cfg.weight_decay), cfg_(cfg) {
  MOCO_CHECK(cfg.lr >= 0 && cfg.weight_decay >= 0 && cfg.momentum >= 0 && cfg.trust_coefficient > 0,
             "LARS: lr {}, weight_decay {}, momentum {} must be >= 0 and trust_coefficient {} > 0", cfg.lr,
             cfg.weight_decay, cfg.momentum, cfg.trust_coefficient);
}

LARS::LARS(const std::vector<Tensor>& params, const LARSConfig& cfg) : LARS(std::vector<ParamGroup>{group_of(params)}, cfg) {}

void LARS::update(const Tensor& p, const Tensor& g, const ParamGroup& group, State& st) {
  const double lr = group.lr, wd = group.weight_decay, mom = cfg_.momentum, trust = cfg_.trust_coefficient;
  if (!st.tensors.count("mu")) st.tensors["mu"] = Tensor::zeros_like(p);
  const Tensor& mu = st.tensors["mu"];
  const bool adapt = p.dim() > 1;

  if (detail::fusable({&p, &g, &mu})) {
    dispatch_float(p.dtype(), "LARS", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T *P = p.data<T>(), *MU = mu.data<T>();
      const T* G = g.data<T>();
      const int64_t n = p.numel();
      const T Twd = T(wd), Tmom = T(mom), Tlr = T(-lr);
      T q = 1;
      if (adapt) {
        const T pn = T(std::sqrt(detail::sum_squares<T>(n, [&](int64_t i) { return P[i]; })));
        const T un = T(std::sqrt(detail::sum_squares<T>(n, [&](int64_t i) { return G[i] + Twd * P[i]; })));
        if (pn > 0 && un > 0) q = T(trust) * pn / un;
      }
      detail::parallel_for(n, [&](int64_t i) {
        const T d = adapt ? (G[i] + Twd * P[i]) * q : G[i];
        MU[i] = MU[i] * Tmom + d;
        P[i] = P[i] + Tlr * MU[i];
      });
    });
    return;
  }
  Tensor d = g;
  if (adapt) {
    d = add(g, mul(p, wd));
    const double pn = std::sqrt(sum(mul(p, p)).item()), un = std::sqrt(sum(mul(d, d)).item());
    if (pn > 0 && un > 0) d = mul(d, trust * pn / un);
  }
  mu.mul_(mom).add_(d);
  p.add_(mu, -lr);
}

}  // namespace moco::optim
