// LARS as in MoCo v3 (moco-v3/moco/optimizer.py). For parameters with more
// than one dim (not biases or norm weights):
//   d = g + wd·p;  q = trust·‖p‖/‖d‖ (1 when either norm is 0);  d ·= q
// 1-D parameters take d = g (no weight decay, no adaptation). Then
//   μ = momentum·μ + d;  p −= lr·μ
#pragma once
#include "optim/optimizer.h"

namespace moco::optim {

struct LARSConfig {
  double lr = 0, weight_decay = 0, momentum = 0.9, trust_coefficient = 0.001;
};

class LARS : public Optimizer {
 public:
  LARS(std::vector<ParamGroup> groups, const LARSConfig& cfg);
  LARS(const std::vector<Tensor>& params, const LARSConfig& cfg);
  std::string name() const override { return "LARS"; }
  const LARSConfig& config() const { return cfg_; }

 protected:
  void update(const Tensor& p, const Tensor& g, const ParamGroup& group, State& st) override;
  std::vector<std::string> state_names() const override { return {"mu"}; }

 private:
  LARSConfig cfg_;
};

}  // namespace moco::optim
