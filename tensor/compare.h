// The one tolerance policy of moco.cpp: |a - b| <= atol + rtol * |b|,
// elementwise, with b the reference. Every test comparison and gradcheck uses
// it, and a failure names the worst element.
#pragma once
#include <string>

#include "tensor/tensor.h"

namespace moco {

struct CloseReport {
  bool ok = true;
  int64_t worst_index = -1;  // flat index of the element with the largest excess
  double worst_actual = 0, worst_expected = 0;
  double max_abs_diff = 0;
  std::string message;  // empty when ok
};

// Compares values (any dtypes/devices, same shape). NaN matches only NaN.
CloseReport allclose(const Tensor& actual, const Tensor& expected, double atol, double rtol,
                     const std::string& what = "tensor");

}  // namespace moco
