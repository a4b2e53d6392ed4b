// Tensor: shape + strides + offset over a reference-counted Storage, plus the
// autograd metadata (requires_grad, grad, grad_fn). Copying a Tensor copies a
// handle (like torch.Tensor); clone() copies data.
//
// tensor/ and autograd/ are one layer (one library, moco_core), as a
// torch.Tensor and its autograd are: a Tensor holds its graph node (a Node of
// autograd/engine.h), clone(), to() and the views record nodes, backward()
// runs the engine, and the in-place ops check GradMode. The split is by
// subject only: storage, dtypes and kernels under tensor/, graph nodes, the
// engine and every differentiable op under autograd/.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace moco {

struct Node;  // a graph node: autograd/engine.h
class Tensor;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape, strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;
  // autograd
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<Node> grad_fn;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories ----
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = {});
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = {});
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = {});
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = {});
  static Tensor scalar(double value, DType dtype = DType::f32, Device device = {});
  static Tensor arange(double start, double end, double step = 1, DType dtype = DType::f32, Device device = {});
  static Tensor from_vector(const std::vector<float>& v, const Shape& shape, Device device = {});
  static Tensor from_vector(const std::vector<double>& v, const Shape& shape, Device device = {});
  static Tensor from_vector(const std::vector<int64_t>& v, const Shape& shape, Device device = {});
  // Same shape/dtype/device as `like`.
  static Tensor empty_like(const Tensor& like);
  static Tensor zeros_like(const Tensor& like);

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t size(int64_t d) const;
  int64_t numel() const { return numel_of(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

  // Pointer to the first element (at offset). CPU only; checks the dtype.
  template <class T> T* data() const;
  void* raw_data() const;  // any device
  // The single value of a one-element tensor, as double (any dtype, any device).
  double item() const;
  template <class T> std::vector<T> to_vector() const;  // copies, contiguous order

  // ---- views (share storage; differentiable) ----
  Tensor reshape(const Shape& shape) const;  // a view when strides allow, else a copy
  Tensor view(const Shape& shape) const;     // must be a view; throws otherwise
  Tensor flatten(int64_t start = 0, int64_t end = -1) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;  // 2-D transpose
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor squeeze() const;
  Tensor expand(const Shape& shape) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;

  // ---- in place (not recorded by autograd; for optimisers, queues, init) ----
  const Tensor& copy_(const Tensor& src) const;  // src broadcast to this shape, dtype cast
  const Tensor& fill_(double value) const;
  const Tensor& zero_() const { return fill_(0); }
  const Tensor& add_(const Tensor& other, double alpha = 1) const;  // this += alpha * other
  const Tensor& mul_(double s) const;
  const Tensor& mul_(const Tensor& other) const;
  const Tensor& lerp_(const Tensor& end, double weight) const;  // this += weight * (end - this)

  // ---- autograd ----
  bool requires_grad() const { return impl().requires_grad; }
  const Tensor& requires_grad_(bool on = true) const;
  Tensor grad() const;  // undefined tensor when there is none
  void set_grad(const Tensor& g) const;
  void zero_grad() const;  // drops the gradient
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  Tensor detach() const;  // same storage, no history
  void backward(const Tensor& grad = Tensor()) const;

  std::string str(int64_t max_elements = 16) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Builds a tensor handle sharing `base`'s storage with new geometry.
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);
// Broadcast view (stride 0 on expanded dims) that records no autograd node.
Tensor expand_view(const Tensor& t, const Shape& shape);

}  // namespace moco
