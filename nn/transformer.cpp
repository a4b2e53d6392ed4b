#include "nn/transformer.h"

#include "autograd/ops.h"
#include "nn/attention.h"
#include "nn/layernorm.h"
#include "nn/mlp.h"

namespace moco::nn {

Block::Block(int64_t dim, int64_t num_heads, double mlp_ratio, bool qkv_bias, double norm_eps) {
  register_module("norm1", std::make_shared<LayerNorm>(dim, norm_eps));
  register_module("attn", std::make_shared<Attention>(dim, num_heads, qkv_bias));
  register_module("norm2", std::make_shared<LayerNorm>(dim, norm_eps));
  register_module("mlp", std::make_shared<Mlp>(dim, int64_t(double(dim) * mlp_ratio)));
}

Tensor Block::forward(const Tensor& x) {
  const Tensor h = add(x, child("attn")(child("norm1")(x)));
  return add(h, child("mlp")(child("norm2")(h)));
}

}  // namespace moco::nn
