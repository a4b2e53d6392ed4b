// AdamW (torch.optim.AdamW): decoupled weight decay, bias-corrected moments.
//   p ·= 1 − lr·wd;  m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
//   p −= lr/(1−β1^t) · m / (√v/√(1−β2^t) + eps)
#pragma once
#include "optim/optimizer.h"

namespace moco::optim {

struct AdamWConfig {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 1e-2;
};

class AdamW : public Optimizer {
 public:
  AdamW(std::vector<ParamGroup> groups, const AdamWConfig& cfg);
  AdamW(const std::vector<Tensor>& params, const AdamWConfig& cfg);
  std::string name() const override { return "AdamW"; }
  const AdamWConfig& config() const { return cfg_; }

 protected:
  void update(const Tensor& p, const Tensor& g, const ParamGroup& group, State& st) override;
  std::vector<std::string> state_names() const override { return {"exp_avg", "exp_avg_sq"}; }

 private:
  AdamWConfig cfg_;
};

}  // namespace moco::optim
