// Thin helpers over the backend for op implementations: allocate the output,
// run one primitive kernel, no autograd. Ops compose these and record nodes.
#pragma once
#include "tensor/backend.h"

namespace moco::k {

inline void same_device(const Tensor& a, const Tensor& b, const char* op) {
  MOCO_CHECK(a.device() == b.device(), "{}: tensors on different devices ({} and {})", op, a.device().str(),
             b.device().str());
}

inline Tensor unary(UnaryOp op, const Tensor& x, double a = 0, double b = 0) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend_for(x).unary(op, out, x, a, b);
  return out;
}

inline Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  same_device(a, b, name);
  MOCO_CHECK(a.dtype() == b.dtype(), "{}: dtype mismatch ({} and {}); convert one with .to()", name,
             dtype_name(a.dtype()), dtype_name(b.dtype()));
  Shape s = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(s, a.dtype(), a.device());
  backend_for(a).binary(op, out, expand_view(a, s), expand_view(b, s));
  return out;
}

inline Tensor scalar_like(double v, const Tensor& like) { return Tensor::full({}, v, like.dtype(), like.device()); }

}  // namespace moco::k
