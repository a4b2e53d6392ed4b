// Scaled dot-product attention, composed: softmax(q kᵀ / sqrt(d)) v.
#include <cmath>

#include "autograd/ops.h"

namespace moco {

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v) {
  MOCO_CHECK(q.dim() >= 2 && k.dim() == q.dim() && v.dim() == q.dim(),
             "attention: q, k, v must have the same rank >= 2, got {}, {}, {}", shape_str(q.shape()),
             shape_str(k.shape()), shape_str(v.shape()));
  MOCO_CHECK(q.size(-1) == k.size(-1) && k.size(-2) == v.size(-2),
             "attention: q {} and k {} must share the last dim, k and v {} the sequence dim", shape_str(q.shape()),
             shape_str(k.shape()), shape_str(v.shape()));
  const double scale = 1.0 / std::sqrt(double(q.size(-1)));
  Tensor scores = mul(matmul(q, k.transpose(-1, -2)), scale);
  return matmul(softmax(scores, -1), v);
}

}  // namespace moco
