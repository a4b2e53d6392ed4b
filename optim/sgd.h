// SGD with momentum, dampening, Nesterov and L2 weight decay — the update of
// torch.optim.SGD:
//   d = g + wd·p;  b = d (first step) or μ·b + (1−dampening)·d;
//   d = nesterov ? d + μ·b : b;  p −= lr·d
#pragma once
#include "optim/optimizer.h"

namespace moco::optim {

struct SGDConfig {
  double lr = 0.01, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, const SGDConfig& cfg);
  SGD(const std::vector<Tensor>& params, const SGDConfig& cfg);
  std::string name() const override { return "SGD"; }
  const SGDConfig& config() const { return cfg_; }

 protected:
  void update(const Tensor& p, const Tensor& g, const ParamGroup& group, State& st) override;
  std::vector<std::string> state_names() const override { return {"momentum_buffer"}; }

 private:
  SGDConfig cfg_;
};

}  // namespace moco::optim
