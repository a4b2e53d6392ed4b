#include "optim/adamw.h"

#include <cmath>

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
  if (!st.tensors.count("exp_avg")) {
    st.tensors["exp_avg"] = Tensor::zeros_like(p);
    st.tensors["exp_avg_sq"] = Tensor::zeros_like(p);
  }
  const double t = double(st.step);
  OptimStep s;
  s.kind = OptimKind::adamw;
  s.lr = group.lr;
  s.weight_decay = group.weight_decay;
  s.beta1 = cfg_.beta1;
  s.beta2 = cfg_.beta2;
  s.eps = cfg_.eps;
  s.step_size = group.lr / (1 - std::pow(cfg_.beta1, t));
  s.bias_correction2_sqrt = std::sqrt(1 - std::pow(cfg_.beta2, t));
  fused_step(s, p, g, st.tensors["exp_avg"], st.tensors["exp_avg_sq"]);
}

}  // namespace moco::optim
