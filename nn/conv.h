// Conv2d (torch.nn.Conv2d): weight [out, in/groups, kh, kw], optional bias,
// stride, zero padding, dilation, groups.
#pragma once
#include "autograd/ops.h"
#include "nn/module.h"

namespace moco::nn {

struct Conv2dConfig {
  int64_t in_channels = 0, out_channels = 0;
  int64_t kernel_size = 1, stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = true;
};

class Conv2d : public Cloneable<Conv2d> {
 public:
  explicit Conv2d(const Conv2dConfig& cfg);
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1, int64_t padding = 0,
         bool bias = true);
  std::string type_name() const override { return "Conv2d"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override;

  const Tensor& weight() const { return param(0); }
  Tensor bias() const { return cfg_.bias ? param(1) : Tensor(); }
  const Conv2dConfig& config() const { return cfg_; }

 private:
  Conv2dConfig cfg_;
  Conv2dOptions opt_;
};

}  // namespace moco::nn
