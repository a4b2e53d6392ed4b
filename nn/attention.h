// Multi-head self-attention with a fused qkv projection (timm's Attention):
// qkv = Linear(dim, 3·dim, qkv_bias), heads of dim/heads, softmax(q kᵀ/√d) v,
// then proj = Linear(dim, dim). Input and output [B, N, dim].
#pragma once
#include "nn/module.h"

namespace moco::nn {

class Attention : public Cloneable<Attention> {
 public:
  Attention(int64_t dim, int64_t num_heads, bool qkv_bias = true);
  std::string type_name() const override { return "Attention"; }
  Tensor forward(const Tensor& x) override;
  int64_t num_heads() const { return heads_; }

 private:
  int64_t dim_, heads_;
};

}  // namespace moco::nn
