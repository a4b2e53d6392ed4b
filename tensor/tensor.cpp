// Tensor factories, metadata and the non-differentiable in-place ops.
// Differentiable views live in autograd/ops_view.cpp. The autograd engine
// (GradMode, record, run_backward) is of the same layer: see tensor.h.
#include "tensor/tensor.h"

#include <cstring>

#include "autograd/engine.h"
#include "tensor/backend.h"

namespace moco {

TensorImpl& Tensor::impl() const {
  MOCO_CHECK(impl_ != nullptr, "use of an undefined tensor");
  return *impl_;
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t s : shape) MOCO_CHECK(s >= 0, "empty: negative size in shape {}", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(size_t(numel_of(shape)) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}
Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0, dtype, device); }
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1, dtype, device); }
Tensor Tensor::scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }
Tensor Tensor::empty_like(const Tensor& like) { return empty(like.shape(), like.dtype(), like.device()); }
Tensor Tensor::zeros_like(const Tensor& like) { return zeros(like.shape(), like.dtype(), like.device()); }

Tensor Tensor::arange(double start, double end, double step, DType dtype, Device device) {
  MOCO_CHECK(step != 0, "arange: step must be non-zero");
  const int64_t n = std::max<int64_t>(0, int64_t(std::ceil((end - start) / step)));
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = start + double(i) * step;
  return from_vector(v, {n}, device).to(dtype);
}

template <class T>
static Tensor from_vec(const std::vector<T>& v, const Shape& shape, Device device) {
  MOCO_CHECK(int64_t(v.size()) == numel_of(shape), "from_vector: {} values do not fill shape {}", v.size(),
             shape_str(shape));
  Tensor t = Tensor::empty(shape, dtype_of<T>(), Device::cpu());
  if (!v.empty()) std::memcpy(t.raw_data(), v.data(), v.size() * sizeof(T));
  return device.is_cpu() ? t : t.to(device);
}
Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& s, Device d) { return from_vec(v, s, d); }
Tensor Tensor::from_vector(const std::vector<double>& v, const Shape& s, Device d) { return from_vec(v, s, d); }
Tensor Tensor::from_vector(const std::vector<int64_t>& v, const Shape& s, Device d) { return from_vec(v, s, d); }

int64_t Tensor::size(int64_t d) const { return shape()[size_t(wrap_dim(d, dim(), "size"))]; }

bool Tensor::is_contiguous() const {
  int64_t expect = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape()[size_t(i)] != 1 && strides()[size_t(i)] != expect) return false;
    expect *= shape()[size_t(i)];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(storage()->data()) + offset() * int64_t(dtype_size(dtype()));
}

template <class T>
T* Tensor::data() const {
  MOCO_CHECK(device().is_cpu(), "data<{}>(): tensor is on {}; move it with .to(Device::cpu()) first",
             dtype_name(dtype_of<T>()), device().str());
  MOCO_CHECK(dtype() == dtype_of<T>(), "data<{}>(): tensor has dtype {}", dtype_name(dtype_of<T>()),
             dtype_name(dtype()));
  return static_cast<T*>(raw_data());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template int64_t* Tensor::data<int64_t>() const;

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = to(Device::cpu()).to(dtype_of<T>()).contiguous();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

double Tensor::item() const {
  MOCO_CHECK(numel() == 1, "item(): tensor of shape {} has {} elements, expected 1", shape_str(shape()), numel());
  return to_vector<double>()[0];
}

const Tensor& Tensor::copy_(const Tensor& src) const {
  MOCO_CHECK(!(GradMode::enabled() && requires_grad()),
             "copy_: in-place write into a tensor that requires grad; wrap it in NoGradGuard");
  Tensor s = expand_view(src, shape());
  if (s.device() != device()) {
    // Cross-device: stage through a contiguous tensor of the destination dtype.
    Tensor staged = s.contiguous().to(dtype());
    Tensor moved = staged.to(device());
    backend_for(*this).copy(*this, moved);
  } else {
    backend_for(*this).copy(*this, s);
  }
  return *this;
}

const Tensor& Tensor::fill_(double value) const {
  backend_for(*this).fill(*this, value);
  return *this;
}

const Tensor& Tensor::add_(const Tensor& other, double alpha) const {
  MOCO_CHECK(!(GradMode::enabled() && requires_grad()), "add_: in-place write into a tensor that requires grad");
  Tensor o = expand_view(other, shape());
  if (alpha != 1) {
    Tensor scaled = Tensor::empty(shape(), dtype(), device());
    backend_for(*this).unary(UnaryOp::affine, scaled, o, alpha, 0);
    o = scaled;
  }
  backend_for(*this).binary(BinaryOp::add, *this, *this, o);
  return *this;
}

const Tensor& Tensor::mul_(double s) const {
  MOCO_CHECK(!(GradMode::enabled() && requires_grad()), "mul_: in-place write into a tensor that requires grad");
  backend_for(*this).unary(UnaryOp::affine, *this, *this, s, 0);
  return *this;
}

const Tensor& Tensor::mul_(const Tensor& other) const {
  MOCO_CHECK(!(GradMode::enabled() && requires_grad()), "mul_: in-place write into a tensor that requires grad");
  backend_for(*this).binary(BinaryOp::mul, *this, *this, expand_view(other, shape()));
  return *this;
}

const Tensor& Tensor::lerp_(const Tensor& end, double weight) const {
  // this = (1 - w) * this + w * end
  mul_(1 - weight);
  return add_(end, weight);
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor out = Tensor::empty(shape(), dt, device());
  backend_for(*this).copy(out, *this);
  if (is_floating(dt)) {
    DType from = dtype();
    record(out, "to_dtype", {*this}, [from](const Tensor& g) { return std::vector<Tensor>{g.to(from)}; });
  }
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = Tensor::empty(shape(), dtype(), device());
  backend_for(*this).copy(out, *this);
  record(out, "clone", {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  return out;
}

Tensor expand_view(const Tensor& t, const Shape& target) {
  if (target == t.shape()) return t;
  MOCO_CHECK(target.size() >= t.shape().size(), "expand: cannot expand shape {} to fewer dims {}",
             shape_str(t.shape()), shape_str(target));
  const size_t lead = target.size() - t.shape().size();
  Shape st(target.size(), 0);
  for (size_t i = lead; i < target.size(); ++i) {
    const int64_t have = t.shape()[i - lead];
    MOCO_CHECK(have == target[i] || have == 1, "expand: shape {} cannot be expanded to {} (dim {}: {} vs {})",
               shape_str(t.shape()), shape_str(target), i, have, target[i]);
    st[i] = have == target[i] ? t.strides()[i - lead] : 0;
  }
  return make_view(t, target, st, t.offset());
}

const Tensor& Tensor::requires_grad_(bool on) const {
  MOCO_CHECK(!on || is_floating(dtype()), "requires_grad_: only floating tensors can require grad");
  impl().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }
void Tensor::set_grad(const Tensor& g) const { impl().grad = g.defined() ? g.impl_ptr() : nullptr; }
void Tensor::zero_grad() const { impl().grad = nullptr; }

Tensor Tensor::detach() const { return make_view(*this, shape(), strides(), offset()); }

void Tensor::backward(const Tensor& grad) const { run_backward(*this, grad); }

std::string Tensor::str(int64_t max_elements) const {
  if (!defined()) return "Tensor(undefined)";
  std::string s = fmt::format("Tensor(shape={}, dtype={}, device={}", shape_str(shape()), dtype_name(dtype()),
                              device().str());
  std::vector<double> v = to_vector<double>();
  s += ", values=[";
  for (size_t i = 0; i < v.size() && int64_t(i) < max_elements; ++i) s += fmt::format("{}{:.6g}", i ? ", " : "", v[i]);
  if (int64_t(v.size()) > max_elements) s += ", ...";
  return s + "])";
}

}  // namespace moco

namespace moco {

Tensor Tensor::to(Device dev) const {
  if (dev == device()) return *this;
  Tensor src = contiguous();
  Tensor out = Tensor::empty(shape(), dtype(), dev);
  const size_t n = size_t(numel()) * dtype_size(dtype());
  if (n == 0) return out;
  if (dev.is_cpu()) {
    backend_for(src).to_host(out.raw_data(), src.raw_data(), n);
  } else if (src.device().is_cpu()) {
    backend_for(dev).from_host(out.raw_data(), src.raw_data(), n);
  } else {
    out.copy_(src.to(Device::cpu()));
  }
  return out;
}

}  // namespace moco
