// Helpers shared by the doctest suites: seeded random inputs, the tolerance
// check with its worst-element message, and gradcheck assertions.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "autograd/engine.h"
#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "tensor/compare.h"
#include "tensor/random.h"

namespace moco::testing {

inline Tensor rnd(const Shape& shape, uint64_t seed, DType dtype = DType::f64) {
  Generator g(seed);
  return randn(shape, g, dtype);
}

// A float64 leaf that requires grad.
inline Tensor leaf(const Shape& shape, uint64_t seed) { return rnd(shape, seed).requires_grad_(); }

// A non-contiguous float64 leaf of `shape`: the transpose of its last two dims' storage.
inline Tensor leaf_transposed(const Shape& shape, uint64_t seed) {
  Shape s = shape;
  std::swap(s[s.size() - 1], s[s.size() - 2]);
  Tensor t = rnd(s, seed).transpose(-1, -2).detach();
  return t.requires_grad_();
}

// Kink escape for gradcheck: moves values within `margin` of `kink` to
// kink ± 2·margin, so central differences never straddle a kink.
inline Tensor away_from(Tensor t, double kink, double margin = 0.05) {
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (std::abs(p[i] - kink) < margin) p[i] = kink + (p[i] >= kink ? 2 : -2) * margin;
  return t;
}

}  // namespace moco::testing

#define CHECK_CLOSE(actual, expected, atol, rtol)                                          \
  do {                                                                                     \
    auto report_ = ::moco::allclose((actual), (expected), (atol), (rtol), #actual);        \
    INFO(report_.message);                                                                 \
    CHECK(report_.ok);                                                                     \
  } while (0)

#define CHECK_GRADCHECK(fn, inputs)                                                        \
  do {                                                                                     \
    auto gc_ = ::moco::gradcheck((fn), (inputs));                                          \
    INFO(gc_.message);                                                                     \
    CHECK(gc_.ok);                                                                         \
  } while (0)

#define CHECK_GRADCHECK_OPT(fn, inputs, options)                                           \
  do {                                                                                     \
    auto gc_ = ::moco::gradcheck((fn), (inputs), (options));                               \
    INFO(gc_.message);                                                                     \
    CHECK(gc_.ok);                                                                         \
  } while (0)

#define CHECK_THROWS_CONTAINS(expr, text)                                                  \
  do {                                                                                     \
    std::string msg_;                                                                      \
    try {                                                                                  \
      (void)(expr);                                                                        \
    } catch (const ::moco::Error& e) {                                                     \
      msg_ = e.what();                                                                     \
    }                                                                                      \
    INFO("message: " << msg_);                                                             \
    CHECK(msg_.find(text) != std::string::npos);                                           \
  } while (0)
