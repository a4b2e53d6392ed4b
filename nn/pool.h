// Pooling layers: MaxPool2d and AdaptiveAvgPool2d (torch.nn).
#pragma once
#include "autograd/ops.h"
#include "nn/module.h"

namespace moco::nn {

class MaxPool2d : public Cloneable<MaxPool2d> {
 public:
  // stride 0 means stride = kernel_size, as in PyTorch.
  explicit MaxPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0);
  std::string type_name() const override { return "MaxPool2d"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override { return max_pool2d(x, k_, s_, p_); }

 private:
  int64_t k_, s_, p_;
};

class AdaptiveAvgPool2d : public Cloneable<AdaptiveAvgPool2d> {
 public:
  explicit AdaptiveAvgPool2d(int64_t out_h = 1, int64_t out_w = 0);  // out_w 0: square
  std::string type_name() const override { return "AdaptiveAvgPool2d"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override;

 private:
  int64_t oh_, ow_;
};

}  // namespace moco::nn
