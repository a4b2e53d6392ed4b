#include "nn/attention.h"

#include "autograd/ops.h"
#include "nn/linear.h"

namespace moco::nn {

Attention::Attention(int64_t dim, int64_t num_heads, bool qkv_bias) : dim_(dim), heads_(num_heads) {
  MOCO_CHECK(num_heads > 0 && dim % num_heads == 0, "Attention: dim {} is not divisible by num_heads {}", dim,
             num_heads);
  register_module("qkv", std::make_shared<Linear>(dim, 3 * dim, qkv_bias));
  register_module("proj", std::make_shared<Linear>(dim, dim));
}

Tensor Attention::forward(const Tensor& x) {
  MOCO_CHECK(x.dim() == 3 && x.size(2) == dim_, "Attention(dim={}): input must be [B, N, {}], got {}", dim_, dim_,
             shape_str(x.shape()));
  const int64_t B = x.size(0), N = x.size(1), hd = dim_ / heads_;
  // [B, N, 3·dim] -> [3, B, heads, N, hd], made contiguous once so that q, k
  // and v are contiguous [B·heads, N, hd] batches for the GEMMs (no copies there).
  Tensor qkv = child("qkv")(x).reshape({B, N, 3, heads_, hd}).permute({2, 0, 3, 1, 4}).contiguous();
  Tensor o = scaled_dot_product_attention(qkv.select(0, 0), qkv.select(0, 1), qkv.select(0, 2));
  return child("proj")(o.transpose(1, 2).reshape({B, N, dim_}));
}

}  // namespace moco::nn
