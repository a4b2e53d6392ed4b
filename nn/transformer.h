// The pre-norm transformer block of timm's ViT:
//   x = x + attn(norm1(x));  x = x + mlp(norm2(x))
// with LayerNorm eps 1e-6 and an MLP of ratio 4 (GELU).
#pragma once
#include "nn/module.h"

namespace moco::nn {

class Block : public Cloneable<Block> {
 public:
  Block(int64_t dim, int64_t num_heads, double mlp_ratio = 4.0, bool qkv_bias = true, double norm_eps = 1e-6);
  std::string type_name() const override { return "Block"; }
  Tensor forward(const Tensor& x) override;
};

}  // namespace moco::nn
