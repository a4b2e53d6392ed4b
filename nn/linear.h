// Linear: y = x Wᵀ + b, weight [out, in] (torch.nn.Linear).
#pragma once
#include "nn/module.h"

namespace moco::nn {

class Linear : public Cloneable<Linear> {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override;

  const Tensor& weight() const { return param(0); }
  Tensor bias() const { return has_bias_ ? param(1) : Tensor(); }
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 private:
  int64_t in_, out_;
  bool has_bias_;
};

}  // namespace moco::nn
