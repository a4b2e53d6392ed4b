// Helpers for the nn/ and optim/ suites: fixture files (safetensors written by
// tests/parity/gen_*.py), the tolerance check with its worst-element message,
// and formula_init (the C++ twin of gen_nn.py's formula_init).
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <string>

#include "autograd/engine.h"
#include "nn/safetensors.h"
#include "nn/state_dict.h"
#include "tensor/compare.h"

namespace moco::testing {

inline std::string fixture_path(const std::string& rel) { return std::string(MOCO_TEST_DATA_DIR) + "/" + rel; }

// The fixture's tensors by name (loaded once per file and kept).
inline const std::map<std::string, Tensor>& fixture(const std::string& rel) {
  static std::map<std::string, std::map<std::string, Tensor>> cache;
  auto it = cache.find(rel);
  if (it == cache.end()) {
    std::map<std::string, Tensor> m;
    for (auto& [n, t] : nn::load_safetensors(fixture_path(rel)).tensors) m[n] = t;
    it = cache.emplace(rel, std::move(m)).first;
  }
  return it->second;
}

inline Tensor fx(const std::string& rel, const std::string& name) {
  const auto& f = fixture(rel);
  auto it = f.find(name);
  if (it == f.end()) FAIL("fixture " << rel << " has no tensor " << name);
  return it->second;
}

// Tensors under `prefix` with the prefix stripped (a state dict).
inline nn::NamedTensors fx_prefix(const std::string& rel, const std::string& prefix) {
  nn::NamedTensors out;
  for (auto& [n, t] : fixture(rel))
    if (n.compare(0, prefix.size(), prefix) == 0) out.emplace_back(n.substr(prefix.size()), t);
  return out;
}

#define MOCO_CHECK_CLOSE(actual, expected, atol, rtol, what)                            \
  do {                                                                                  \
    ::moco::CloseReport r_ = ::moco::allclose((actual), (expected), (atol), (rtol), (what)); \
    CHECK_MESSAGE(r_.ok, r_.message);                                                   \
  } while (0)

// Scale-aware check for float32 results against float64 references: atol is
// rel·max|expected| (so elements near zero in a large tensor pass on the
// tensor's scale), plus rtol·|expected| per element.
inline void check_close_scaled(const Tensor& actual, const Tensor& expected, double rel, const std::string& what) {
  double scale = 0;
  for (double v : expected.to_vector<double>()) scale = std::max(scale, std::abs(v));
  CloseReport r = allclose(actual, expected, rel * std::max(scale, 1e-30), rel, what);
  CHECK_MESSAGE(r.ok, r.message);
}

// ---- formula_init: deterministic weights from the tensor's name ----
inline uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

inline double splitmix_uniform(uint64_t seed, uint64_t i) {
  uint64_t z = seed + i + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z = z ^ (z >> 31);
  return double(z >> 11) * 0x1p-53 * 2.0 - 1.0;
}

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

inline void formula_init(nn::Module& m) {
  for (auto& [name, t] : m.state_dict()) {
    if (t.dtype() == DType::i64) {
      t.fill_(0);
      continue;
    }
    const int64_t n = t.numel();
    const uint64_t seed = fnv1a64(name);
    std::vector<float> v(static_cast<size_t>(n));
    int64_t fan_in = 1;
    for (int64_t d = 1; d < t.dim(); ++d) fan_in *= t.size(d);
    for (int64_t i = 0; i < n; ++i) {
      const double u = splitmix_uniform(seed, uint64_t(i));
      double x;
      if (ends_with(name, "running_var")) x = 1.0 + 0.5 * u;
      else if (ends_with(name, "running_mean")) x = 0.1 * u;
      else if (t.dim() >= 2) x = u * std::sqrt(3.0 / double(fan_in));
      else if (ends_with(name, "weight")) x = 1.0 + 0.2 * u;
      else x = 0.1 * u;
      v[size_t(i)] = float(x);
    }
    NoGradGuard no_grad;
    t.copy_(Tensor::from_vector(v, t.shape()));
  }
}

}  // namespace moco::testing
