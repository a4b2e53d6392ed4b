#include "optim/optimizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "autograd/engine.h"
#include "nn/safetensors.h"

namespace moco::optim {

ParamGroup group_of(const std::vector<Tensor>& params) {
  ParamGroup g;
  g.params = params;
  return g;
}

ParamGroup make_group(const nn::NamedTensors& named, bool trainable_only) {
  ParamGroup g;
  for (auto& [n, t] : named)
    if (!trainable_only || t.requires_grad()) {
      g.params.push_back(t);
      g.names.push_back(n);
    }
  return g;
}

std::vector<ParamGroup> split_weight_decay(const nn::NamedTensors& named, double weight_decay, bool trainable_only) {
  ParamGroup decay, no_decay;
  decay.weight_decay = weight_decay;
  no_decay.weight_decay = 0;
  for (auto& [n, t] : named) {
    if (trainable_only && !t.requires_grad()) continue;
    ParamGroup& g = t.dim() >= 2 ? decay : no_decay;
    g.params.push_back(t);
    g.names.push_back(n);
  }
  return {decay, no_decay};
}

Optimizer::Optimizer(std::vector<ParamGroup> groups, double lr, double weight_decay) : groups_(std::move(groups)) {
  MOCO_CHECK(!groups_.empty(), "optimizer: no parameter groups");
  std::set<const TensorImpl*> seen;
  size_t n = 0;
  for (auto& g : groups_) {
    MOCO_CHECK(g.names.empty() || g.names.size() == g.params.size(),
               "optimizer: a group has {} names for {} parameters", g.names.size(), g.params.size());
    if (g.lr < 0) g.lr = lr;
    if (g.weight_decay < 0) g.weight_decay = weight_decay;
    for (auto& p : g.params) {
      MOCO_CHECK(p.defined() && is_floating(p.dtype()), "optimizer: parameter {} is undefined or not floating", n);
      MOCO_CHECK(seen.insert(&p.impl()).second, "optimizer: parameter {} appears more than once", n);
      ++n;
    }
  }
  state_.resize(n);
}

std::string Optimizer::param_label(size_t index) const {
  size_t i = index;
  for (auto& g : groups_) {
    if (i < g.params.size()) {
      if (!g.names.empty()) return fmt::format("{} ({})", index, g.names[i]);
      return std::to_string(index);
    }
    i -= g.params.size();
  }
  return std::to_string(index);
}

void Optimizer::step() {
  NoGradGuard no_grad;
  size_t i = 0;
  for (auto& g : groups_)
    for (auto& p : g.params) {
      State& st = state_[i++];
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      MOCO_CHECK(grad.shape() == p.shape(), "{}: gradient of parameter {} has shape {}, parameter {}", name(),
                 param_label(i - 1), shape_str(grad.shape()), shape_str(p.shape()));
      ++st.step;
      update(p, grad, g, st);
    }
  ++steps_;
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params) p.zero_grad();
}

void Optimizer::set_lr(double lr) {
  for (auto& g : groups_) g.lr = lr;
}

nn::NamedTensors Optimizer::state_dict() const {
  nn::NamedTensors out;
  out.emplace_back("step", Tensor::full({}, double(steps_), DType::i64));
  for (size_t i = 0; i < state_.size(); ++i) {
    const State& st = state_[i];
    if (st.step == 0 && st.tensors.empty()) continue;
    out.emplace_back(fmt::format("state.{}.step", i), Tensor::full({}, double(st.step), DType::i64));
    for (auto& [n, t] : st.tensors) out.emplace_back(fmt::format("state.{}.{}", i, n), t.clone());
  }
  return out;
}

void Optimizer::load_state_dict(const nn::NamedTensors& state) {
  std::vector<const Tensor*> params;
  for (auto& g : groups_)
    for (auto& p : g.params) params.push_back(&p);
  const std::vector<std::string> known = state_names();
  std::vector<std::string> problems;
  std::vector<State> loaded(state_.size());
  int64_t steps = -1;
  for (auto& [name, t] : state) {
    if (name == "step") {
      if (t.numel() == 1 && t.dtype() == DType::i64) steps = int64_t(t.item());
      else problems.push_back("step: expected an int64 scalar, got " + shape_str(t.shape()) + " " + dtype_name(t.dtype()));
      continue;
    }
    size_t idx = 0, dot = 0;
    std::string field;
    bool ok = name.rfind("state.", 0) == 0;
    if (ok) {
      dot = name.find('.', 6);
      ok = dot != std::string::npos && dot > 6 &&
           std::all_of(name.begin() + 6, name.begin() + long(dot), [](char c) { return c >= '0' && c <= '9'; });
    }
    if (ok) {
      idx = std::stoul(name.substr(6, dot - 6));
      field = name.substr(dot + 1);
    }
    if (!ok || idx >= params.size()) {
      problems.push_back(ok ? fmt::format("unexpected: {} (only {} parameters)", name, params.size())
                            : "unexpected: " + name);
      continue;
    }
    if (field == "step") {
      if (t.numel() == 1 && t.dtype() == DType::i64) loaded[idx].step = int64_t(t.item());
      else problems.push_back(name + ": expected an int64 scalar");
      continue;
    }
    if (std::find(known.begin(), known.end(), field) == known.end()) {
      problems.push_back(fmt::format("unexpected: {} ({} keeps {})", name, this->name(), fmt::join(known, ", ")));
      continue;
    }
    const Tensor& p = *params[idx];
    if (t.shape() != p.shape())
      problems.push_back(fmt::format("shape mismatch: {}: file {}, parameter {} is {}", name, shape_str(t.shape()),
                                     param_label(idx), shape_str(p.shape())));
    else if (t.dtype() != p.dtype())
      problems.push_back(fmt::format("dtype mismatch: {}: file {}, parameter {} is {}", name, dtype_name(t.dtype()),
                                     param_label(idx), dtype_name(p.dtype())));
    else
      loaded[idx].tensors[field] = t.detach().to(p.device()).clone();
  }
  if (steps < 0) problems.push_back("missing: step");
  if (!problems.empty()) {
    std::string msg = fmt::format("{}.load_state_dict: {} problem{}:", name(), problems.size(),
                                  problems.size() == 1 ? "" : "s");
    for (auto& p : problems) msg += "\n  " + p;
    throw Error(msg);
  }
  state_ = std::move(loaded);
  steps_ = steps;
}

void Optimizer::save(const std::string& path) const {
  nn::save_safetensors(path, state_dict(), {{"optimizer", name()}});
}

void Optimizer::load(const std::string& path) {
  nn::SafeTensors f = nn::load_safetensors(path);
  auto it = f.metadata.find("optimizer");
  MOCO_CHECK(it == f.metadata.end() || it->second == name(), "{}: optimizer state of a {}, not a {}", path, it->second,
             name());
  load_state_dict(f.tensors);
}

}  // namespace moco::optim
