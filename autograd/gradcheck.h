// Gradient checking: analytic gradients from backward() against float64
// central differences.
//
// The scalar checked is L = sum(f(inputs) * w) with w a fixed random tensor,
// so every output element contributes with its own weight. Inputs must be
// float64 CPU tensors; those with requires_grad are checked.
//
// Kinks: central differences are wrong where the function is not smooth
// (ReLU at 0, ties in max-pool, |x| at 0, clamp at its bounds). The escape is
// explicit: tests pick inputs at least `eps`-far from every kink (see
// tests/autograd/README in tests/README.md), never a looser tolerance.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace moco {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-4;
  uint64_t seed = 1234;  // for the output weights w
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // names the input and its worst element when not ok
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs, const GradcheckOptions& opt = {});

}  // namespace moco
