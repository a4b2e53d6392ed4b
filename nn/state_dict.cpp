#include "nn/state_dict.h"

#include <cmath>

#include <fmt/format.h>

#include <unordered_map>

#include "autograd/engine.h"
#include "nn/safetensors.h"

namespace moco::nn {

namespace {
std::string describe(const Tensor& t) { return shape_str(t.shape()) + " " + dtype_name(t.dtype()); }
}  // namespace

std::vector<std::string> state_dict_problems(const NamedTensors& targets, const NamedTensors& state, bool strict) {
  std::unordered_map<std::string, const Tensor*> have, want;
  std::vector<std::string> problems;
  for (auto& [n, t] : state) {
    if (!have.emplace(n, &t).second) problems.push_back("duplicate: " + n);
  }
  for (auto& [n, t] : targets) want.emplace(n, &t);
  for (auto& [n, t] : targets) {
    auto it = have.find(n);
    if (it == have.end()) {
      if (strict) problems.push_back("missing: " + n + " " + describe(t));
      continue;
    }
    const Tensor& s = *it->second;
    if (s.shape() != t.shape())
      problems.push_back(fmt::format("shape mismatch: {}: checkpoint {}, model {}", n, shape_str(s.shape()),
                                     shape_str(t.shape())));
    else if (s.dtype() != t.dtype())
      problems.push_back(fmt::format("dtype mismatch: {}: checkpoint {}, model {}", n, dtype_name(s.dtype()),
                                     dtype_name(t.dtype())));
  }
  if (strict)
    for (auto& [n, t] : state)
      if (!want.count(n)) problems.push_back("unexpected: " + n + " " + describe(t));
  return problems;
}

void load_into(const NamedTensors& targets, const NamedTensors& state, bool strict, const std::string& what) {
  std::vector<std::string> problems = state_dict_problems(targets, state, strict);
  if (!problems.empty()) {
    std::string msg = fmt::format("{}: {} problem{} with the state dict ({} tensors given, {} expected):", what,
                                  problems.size(), problems.size() == 1 ? "" : "s", state.size(), targets.size());
    for (auto& p : problems) msg += "\n  " + p;
    throw Error(msg);
  }
  std::unordered_map<std::string, const Tensor*> have;
  for (auto& [n, t] : state) have.emplace(n, &t);
  NoGradGuard no_grad;
  for (auto& [n, t] : targets) {
    auto it = have.find(n);
    if (it != have.end() && !it->second->same(t)) t.copy_(*it->second);
  }
}

NamedTensors strip_prefix(const NamedTensors& state, const std::string& prefix) {
  NamedTensors out;
  for (auto& [n, t] : state)
    if (n.compare(0, prefix.size(), prefix) == 0) out.emplace_back(n.substr(prefix.size()), t);
  return out;
}

NamedTensors add_prefix(const NamedTensors& state, const std::string& prefix) {
  NamedTensors out;
  for (auto& [n, t] : state) out.emplace_back(prefix + n, t);
  return out;
}

const Tensor& find_tensor(const NamedTensors& state, const std::string& name, const std::string& what) {
  for (auto& [n, t] : state)
    if (n == name) return t;
  fail("{}: no tensor named '{}' ({} tensors)", what, name, state.size());
}

void save_state_dict(const Module& m, const std::string& path, const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, m.state_dict(), metadata);
}

void load_state_dict(Module& m, const std::string& path, bool strict) {
  SafeTensors file = load_safetensors(path);
  load_into(m.state_dict(), file.tensors, strict, fmt::format("loading {} into {}", path, m.type_name()));
}

std::string first_non_finite(const NamedTensors& state) {
  for (auto& [name, t] : state) {
    if (!t.defined() || !is_floating(t.dtype())) continue;
    int64_t bad = 0;
    if (t.dtype() == DType::f32) {
      for (float v : t.to_vector<float>()) bad += !std::isfinite(v);
    } else {
      for (double v : t.to_vector<double>()) bad += !std::isfinite(v);
    }
    if (bad) return fmt::format("{} {}: {} of {} values are NaN or infinite", name, shape_str(t.shape()), bad, t.numel());
  }
  return "";
}

}  // namespace moco::nn
