// Views: new geometry over the same storage, forward and backward together.
#include "autograd/engine.h"
#include "autograd/ops.h"
#include "tensor/backend.h"

namespace moco {

namespace {
Shape infer_shape(Shape shape, int64_t numel, const char* op) {
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      MOCO_CHECK(infer < 0, "{}: only one dim can be -1 in {}", op, shape_str(shape));
      infer = int64_t(i);
    } else {
      MOCO_CHECK(shape[i] >= 0, "{}: invalid size in {}", op, shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    MOCO_CHECK(known != 0 && numel % known == 0, "{}: cannot infer -1 in {} for {} elements", op, shape_str(shape),
               numel);
    shape[size_t(infer)] = numel / known;
  }
  MOCO_CHECK(numel_of(shape) == numel, "{}: shape {} is invalid for a tensor of {} elements", op, shape_str(shape),
             numel);
  return shape;
}

Tensor reshape_backward_node(const Tensor& out, const Tensor& in, const char* name) {
  Shape in_shape = in.shape();
  record(out, name, {in}, [in_shape](const Tensor& g) { return std::vector<Tensor>{g.reshape(in_shape)}; });
  return out;
}
}  // namespace

Tensor Tensor::view(const Shape& shape_in) const {
  Shape shape = infer_shape(shape_in, numel(), "view");
  Shape st;
  MOCO_CHECK(view_strides(this->shape(), strides(), shape, st),
             "view: cannot view a tensor of shape {} and strides {} as {}; use reshape() (it copies)",
             shape_str(this->shape()), shape_str(strides()), shape_str(shape));
  return reshape_backward_node(make_view(*this, shape, st, offset()), *this, "view");
}

Tensor Tensor::reshape(const Shape& shape_in) const {
  Shape shape = infer_shape(shape_in, numel(), "reshape");
  Shape st;
  if (view_strides(this->shape(), strides(), shape, st))
    return reshape_backward_node(make_view(*this, shape, st, offset()), *this, "reshape");
  return contiguous().view(shape);
}

Tensor Tensor::flatten(int64_t start, int64_t end) const {
  if (dim() == 0) return reshape({1});
  start = wrap_dim(start, dim(), "flatten");
  end = wrap_dim(end, dim(), "flatten");
  MOCO_CHECK(start <= end, "flatten: start dim {} after end dim {}", start, end);
  Shape s(shape().begin(), shape().begin() + start);
  int64_t m = 1;
  for (int64_t i = start; i <= end; ++i) m *= shape()[size_t(i)];
  s.push_back(m);
  s.insert(s.end(), shape().begin() + end + 1, shape().end());
  return reshape(s);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  MOCO_CHECK(int64_t(dims.size()) == dim(), "permute: {} dims given for a tensor with {}", dims.size(), dim());
  Shape s(dims.size()), st(dims.size());
  std::vector<int64_t> inverse(dims.size(), -1);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], dim(), "permute");
    MOCO_CHECK(inverse[size_t(d)] < 0, "permute: dim {} repeated", d);
    inverse[size_t(d)] = int64_t(i);
    s[i] = shape()[size_t(d)];
    st[i] = strides()[size_t(d)];
  }
  Tensor out = make_view(*this, s, st, offset());
  record(out, "permute", {*this}, [inverse](const Tensor& g) { return std::vector<Tensor>{g.permute(inverse)}; });
  return out;
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  std::vector<int64_t> p(static_cast<size_t>(dim()));
  for (int64_t i = 0; i < dim(); ++i) p[size_t(i)] = i;
  std::swap(p[size_t(wrap_dim(d0, dim(), "transpose"))], p[size_t(wrap_dim(d1, dim(), "transpose"))]);
  return permute(p);
}

Tensor Tensor::t() const {
  MOCO_CHECK(dim() == 2, "t(): expects a 2-D tensor, got shape {}", shape_str(shape()));
  return transpose(0, 1);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  d = wrap_dim(d, dim(), "slice");
  const int64_t n = shape()[size_t(d)];
  MOCO_CHECK(step > 0, "slice: step must be positive, got {}", step);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape s = shape(), st = strides();
  s[size_t(d)] = (end - start + step - 1) / step;
  st[size_t(d)] *= step;
  Tensor out = make_view(*this, s, st, offset() + start * strides()[size_t(d)]);
  Shape in_shape = shape();
  DType dt = dtype();
  Device dev = device();
  record(out, "slice", {*this}, [=](const Tensor& g) {
    Tensor gi = Tensor::zeros(in_shape, dt, dev);
    gi.slice(d, start, end, step).copy_(g);
    return std::vector<Tensor>{gi};
  });
  return out;
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  d = wrap_dim(d, dim(), "narrow");
  MOCO_CHECK(start >= 0 && length >= 0 && start + length <= shape()[size_t(d)],
             "narrow: [{}, {}) is outside dim {} of size {}", start, start + length, d, shape()[size_t(d)]);
  return slice(d, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim(), "select");
  const int64_t n = shape()[size_t(d)];
  MOCO_CHECK(index >= -n && index < n, "select: index {} out of range for dim {} of size {}", index, d, n);
  if (index < 0) index += n;
  Shape s = shape(), st = strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  Tensor out = make_view(*this, s, st, offset() + index * strides()[size_t(d)]);
  Shape in_shape = shape();
  DType dt = dtype();
  Device dev = device();
  record(out, "select", {*this}, [=](const Tensor& g) {
    Tensor gi = Tensor::zeros(in_shape, dt, dev);
    gi.select(d, index).copy_(g);
    return std::vector<Tensor>{gi};
  });
  return out;
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape s = shape(), st = strides();
  const int64_t stride = d < dim() ? strides()[size_t(d)] * shape()[size_t(d)] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  return reshape_backward_node(make_view(*this, s, st, offset()), *this, "unsqueeze");
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  if (shape()[size_t(d)] != 1) return *this;
  Shape s = shape(), st = strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  return reshape_backward_node(make_view(*this, s, st, offset()), *this, "squeeze");
}

Tensor Tensor::squeeze() const {
  Shape s, st;
  for (int64_t i = 0; i < dim(); ++i)
    if (shape()[size_t(i)] != 1) {
      s.push_back(shape()[size_t(i)]);
      st.push_back(strides()[size_t(i)]);
    }
  return reshape_backward_node(make_view(*this, s, st, offset()), *this, "squeeze");
}

Tensor Tensor::expand(const Shape& target) const {
  if (target == shape()) return *this;
  Tensor out = expand_view(*this, target);
  Shape in_shape = shape();
  record(out, "expand", {*this}, [in_shape](const Tensor& g) { return std::vector<Tensor>{sum_to(g, in_shape)}; });
  return out;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor out = Tensor::empty(shape(), dtype(), device());
  backend_for(*this).copy(out, *this);
  record(out, "contiguous", {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  return out;
}

}  // namespace moco
