#include "nn/layernorm.h"

#include <fmt/format.h>

#include "autograd/ops.h"

namespace moco::nn {

LayerNorm::LayerNorm(int64_t dim, double eps, bool affine) : dim_(dim), eps_(eps), affine_(affine) {
  MOCO_CHECK(dim > 0, "LayerNorm: dim must be positive, got {}", dim);
  if (affine) {
    register_parameter("weight", Tensor::ones({dim}));
    register_parameter("bias", Tensor::zeros({dim}));
  }
}

std::string LayerNorm::extra_repr() const {
  return fmt::format("({},), eps={}, elementwise_affine={}", dim_, eps_, affine_ ? "True" : "False");
}

Tensor LayerNorm::forward(const Tensor& x) {
  MOCO_CHECK(x.dim() >= 1 && x.size(-1) == dim_, "LayerNorm({}): input {} does not end in {}", dim_,
             shape_str(x.shape()), dim_);
  return layer_norm(x, 1, weight(), bias(), eps_);
}

}  // namespace moco::nn
