#include "optim/lars.h"

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
  if (!st.tensors.count("mu")) st.tensors["mu"] = Tensor::zeros_like(p);
  OptimStep s;
  s.kind = OptimKind::lars;
  s.lr = group.lr;
  s.weight_decay = group.weight_decay;
  s.momentum = cfg_.momentum;
  s.trust = cfg_.trust_coefficient;
  s.adapt = p.dim() > 1;  // not biases or norm weights
  fused_step(s, p, g, st.tensors["mu"]);
}

}  // namespace moco::optim
