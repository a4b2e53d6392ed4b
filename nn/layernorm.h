// LayerNorm over the last dimension (torch.nn.LayerNorm(dim)); timm's ViT
// uses eps = 1e-6.
#pragma once
#include "nn/module.h"

namespace moco::nn {

class LayerNorm : public Cloneable<LayerNorm> {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-5, bool affine = true);
  std::string type_name() const override { return "LayerNorm"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override;

  Tensor weight() const { return affine_ ? param(0) : Tensor(); }
  Tensor bias() const { return affine_ ? param(1) : Tensor(); }

 private:
  int64_t dim_;
  double eps_;
  bool affine_;
};

}  // namespace moco::nn
