#include "nn/linear.h"

#include <fmt/format.h>

#include "autograd/ops.h"
#include "nn/init.h"

namespace moco::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool bias)
    : in_(in_features), out_(out_features), has_bias_(bias) {
  MOCO_CHECK(in_features > 0 && out_features > 0, "Linear: features must be positive, got in={} out={}", in_features,
             out_features);
  register_parameter("weight", Tensor::empty({out_, in_}));
  if (bias) register_parameter("bias", Tensor::empty({out_}));
  init::default_linear_conv_(weight(), this->bias());
}

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", in_, out_, has_bias_ ? "True" : "False");
}

Tensor Linear::forward(const Tensor& x) {
  if (x.dim() <= 2) return linear(x, weight(), bias());
  // [..., in] as one [rows, in] matrix: one GEMM forward, and a weight
  // gradient that is one GEMM too (a batched matmul would broadcast the weight
  // and reduce a [batch, out, in] gradient).
  MOCO_CHECK(x.size(-1) == in_, "Linear({}, {}): input {} does not end in {}", in_, out_, shape_str(x.shape()), in_);
  Shape out_shape = x.shape();
  out_shape.back() = out_;
  return linear(x.reshape({-1, in_}), weight(), bias()).reshape(out_shape);
}

}  // namespace moco::nn
