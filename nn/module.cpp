#include "nn/module.h"

#include <fmt/format.h>

#include "autograd/engine.h"
#include "nn/state_dict.h"

namespace moco::nn {

bool Module::has_child(const std::string& name) const {
  for (auto& c : children_)
    if (c.first == name) return true;
  return false;
}

std::shared_ptr<Module> Module::child_ptr(const std::string& name) const {
  for (auto& c : children_)
    if (c.first == name) return c.second;
  std::string have;
  for (auto& c : children_) have += (have.empty() ? "" : ", ") + c.first;
  fail("{}: no child module '{}' (children: {})", type_name(), name, have.empty() ? "none" : have);
}

Module& Module::child(const std::string& name) const {
  for (auto& c : children_)  // forward code looks children up here: no shared_ptr copy
    if (c.first == name) return *c.second;
  return *child_ptr(name);  // throws, naming the children
}

void Module::replace_child(const std::string& name, std::shared_ptr<Module> m) {
  MOCO_CHECK(m != nullptr, "{}: child module '{}' is null", type_name(), name);
  MOCO_CHECK(!name.empty() && name.find('.') == std::string::npos,
             "{}: child name '{}' must be non-empty and contain no '.'", type_name(), name);
  for (auto& c : children_)
    if (c.first == name) {
      c.second = std::move(m);
      return;
    }
  children_.emplace_back(name, std::move(m));
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (auto& [name, c] : children_)
    for (auto& [sub, m] : c->named_modules()) out.emplace_back(sub.empty() ? name : name + "." + sub, m);
  return out;
}

size_t Module::register_parameter(const std::string& name, const Tensor& t, bool requires_grad) {
  MOCO_CHECK(t.defined(), "{}: parameter '{}' is undefined", type_name(), name);
  MOCO_CHECK(t.is_leaf(), "{}: parameter '{}' must be a leaf tensor (detach it first)", type_name(), name);
  t.requires_grad_(requires_grad);
  params_.emplace_back(name, t);
  return params_.size() - 1;
}

size_t Module::register_buffer(const std::string& name, const Tensor& t) {
  MOCO_CHECK(t.defined(), "{}: buffer '{}' is undefined", type_name(), name);
  buffers_.emplace_back(name, t);
  return buffers_.size() - 1;
}

void Module::collect(const std::string& prefix, bool params, bool buffers, bool recurse, NamedTensors& out) const {
  if (params)
    for (auto& [n, t] : params_) out.emplace_back(prefix + n, t);
  if (buffers)
    for (auto& [n, t] : buffers_) out.emplace_back(prefix + n, t);
  if (recurse)
    for (auto& [n, c] : children_) c->collect(prefix + n + ".", params, buffers, true, out);
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect("", true, false, recurse, out);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect("", false, true, recurse, out);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", true, true, true, out);
  return out;
}

std::vector<Tensor> Module::parameters(bool trainable_only) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters())
    if (!trainable_only || t.requires_grad()) out.push_back(t);
  return out;
}

int64_t Module::num_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (auto& t : parameters(trainable_only)) n += t.numel();
  return n;
}

void Module::load_state_dict(const NamedTensors& state, bool strict) {
  load_into(state_dict(), state, strict, type_name() + ".load_state_dict");
}

void Module::copy_from(const Module& other) {
  NamedTensors mine = state_dict(), theirs = other.state_dict();
  MOCO_CHECK(mine.size() == theirs.size(), "{}.copy_from: {} tensors here, {} in the source {}", type_name(),
             mine.size(), theirs.size(), other.type_name());
  NoGradGuard no_grad;
  for (size_t i = 0; i < mine.size(); ++i) {
    const auto& [n, t] = mine[i];
    const auto& [on, ot] = theirs[i];
    MOCO_CHECK(n == on && t.shape() == ot.shape() && t.dtype() == ot.dtype(),
               "{}.copy_from: structure differs at tensor {}: '{}' {} {} here vs '{}' {} {} in the source",
               type_name(), i, n, shape_str(t.shape()), dtype_name(t.dtype()), on, shape_str(ot.shape()),
               dtype_name(ot.dtype()));
    if (!t.same(ot)) t.copy_(ot);
  }
}

void Module::train(bool on) {
  training_ = on;
  for (auto& c : children_) c.second->train(on);
}

void Module::zero_grad() {
  for (auto& t : parameters()) t.zero_grad();
}

void Module::requires_grad_(bool on) {
  for (auto& t : parameters()) t.requires_grad_(on);
}

void Module::to(Device device) {
  for (auto& p : params_) {
    if (p.second.device() == device) continue;
    bool rg = p.second.requires_grad();
    p.second = p.second.detach().to(device);
    p.second.requires_grad_(rg);
  }
  for (auto& b : buffers_)
    if (b.second.device() != device) b.second = b.second.to(device);
  for (auto& c : children_) c.second->to(device);
}

void Module::make_deep() {
  NoGradGuard no_grad;
  for (auto& p : params_) {
    bool rg = p.second.requires_grad();
    p.second = p.second.detach().clone();
    p.second.requires_grad_(rg);
  }
  for (auto& b : buffers_) b.second = b.second.clone();
  for (auto& c : children_) c.second = c.second->clone();
}

void Module::str_into(std::string& out, const std::string& name, int indent) const {
  std::string pad(size_t(indent) * 2, ' ');
  out += pad + (name.empty() ? "" : "(" + name + "): ") + type_name() + "(" + extra_repr();
  if (children_.empty()) {
    out += ")\n";
    return;
  }
  out += "\n";
  for (auto& [n, c] : children_) c->str_into(out, n, indent + 1);
  out += pad + ")\n";
}

std::string Module::str() const {
  std::string out;
  str_into(out, "", 0);
  return out;
}

}  // namespace moco::nn
