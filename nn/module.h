// Module: the base of every layer and model. A module owns named parameters
// and buffers and named child modules; names join with dots exactly as in
// PyTorch (`layer1.0.conv1.weight`, `bn1.running_mean`), so state dicts load
// into torchvision / timm without renaming.
//
// Layers keep their tensors and children only in the registries below (never
// in extra member handles), and forward code calls children by name, as
// PyTorch code calls self.conv1:
//
//   Tensor out = relu(child("bn1")(child("conv1")(x)));
//
// That keeps two things simple. A deep copy: copy-construct the layer
// (configuration + registries), then replace every tensor by a copy and every
// child by its clone (Cloneable<Derived>::clone(); the MoCo key encoder is such
// a clone). And surgery: replace_child() swaps a ResNet's `fc` for an MLP head
// or each BatchNorm2d for a SplitBatchNorm, and forward() runs the new child.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace moco::nn {

// An ordered list of (name, tensor): parameters, buffers, state dicts.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  virtual ~Module() = default;
  // The PyTorch class name ("Conv2d", "BatchNorm2d", ...), for printing.
  virtual std::string type_name() const = 0;
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
  // A deep copy: same structure, copied parameters and buffers (no grads),
  // same training mode and requires_grad flags.
  virtual std::shared_ptr<Module> clone() const = 0;

  // ---- the tree ----
  using Child = std::pair<std::string, std::shared_ptr<Module>>;
  const std::vector<Child>& children() const { return children_; }
  bool has_child(const std::string& name) const;
  Module& child(const std::string& name) const;  // throws naming the module's children
  Module& child(size_t index) const = delete;      // by name only (child(0) would be a null string)
  std::shared_ptr<Module> child_ptr(const std::string& name) const;
  template <class M> M& child_as(const std::string& name) const;
  // Swaps a child for another module (e.g. the `fc` of a ResNet for an MLP head).
  void replace_child(const std::string& name, std::shared_ptr<Module> m);
  // Every module below this one (this one first, named ""), depth first.
  std::vector<std::pair<std::string, Module*>> named_modules();

  // ---- tensors ----
  // Own tensors only when recurse = false. Names are dotted paths.
  NamedTensors named_parameters(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  // All parameters (trainable_only: those with requires_grad), in state-dict order.
  std::vector<Tensor> parameters(bool trainable_only = false) const;
  int64_t num_parameters(bool trainable_only = false) const;
  // Parameters then buffers per module, depth first: PyTorch's state_dict order.
  NamedTensors state_dict() const;
  // Copies values in (no grad). Throws one error listing every missing,
  // unexpected, mis-shaped or mis-typed tensor; `strict = false` ignores
  // missing and unexpected names (but never wrong shapes).
  void load_state_dict(const NamedTensors& state, bool strict = true);
  // Copies every parameter and buffer value from a module of the same structure.
  void copy_from(const Module& other);

  // ---- modes ----
  virtual void train(bool on = true);  // recursive
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();                        // drops every parameter's gradient
  void requires_grad_(bool on);            // every parameter, recursively
  void to(Device device);                  // moves parameters and buffers

  // A multi-line summary, one module per line, like print(model) in PyTorch.
  std::string str() const;
  // One line describing this module's configuration, e.g. "16, 32, kernel_size=3".
  virtual std::string extra_repr() const { return ""; }

 protected:
  Module() = default;
  Module(const Module&) = default;
  Module& operator=(const Module&) = default;

  // Registration, in the constructor. Returns the index used by param()/buffer().
  size_t register_parameter(const std::string& name, const Tensor& t, bool requires_grad = true);
  size_t register_buffer(const std::string& name, const Tensor& t);
  template <class M> M& register_module(const std::string& name, std::shared_ptr<M> m);

  const Tensor& param(size_t i) const { return params_[i].second; }
  const Tensor& buffer(size_t i) const { return buffers_[i].second; }

  // Replaces own tensors by detached copies and children by clones (see clone()).
  void make_deep();

 private:
  void collect(const std::string& prefix, bool params, bool buffers, bool recurse, NamedTensors& out) const;
  void str_into(std::string& out, const std::string& name, int indent) const;

  NamedTensors params_, buffers_;
  std::vector<Child> children_;
  bool training_ = true;
};

// CRTP helper that implements clone() through the copy constructor. Base is
// Module or an abstract subclass of it (nn::Backbone).
template <class Derived, class Base = Module>
class Cloneable : public Base {
 public:
  std::shared_ptr<Module> clone() const override {
    auto m = std::make_shared<Derived>(static_cast<const Derived&>(*this));
    m->make_deep();
    return m;
  }
};

template <class M>
M& Module::register_module(const std::string& name, std::shared_ptr<M> m) {
  M& ref = *m;
  replace_child(name, std::move(m));
  return ref;
}

template <class M>
M& Module::child_as(const std::string& name) const {
  auto* p = dynamic_cast<M*>(&child(name));
  MOCO_CHECK(p, "{}: child '{}' is a {}, not the requested type", type_name(), name, child(name).type_name());
  return *p;
}

}  // namespace moco::nn
