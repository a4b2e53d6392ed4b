#include "tensor/compare.h"

#include <cmath>

namespace moco {

CloseReport allclose(const Tensor& actual, const Tensor& expected, double atol, double rtol, const std::string& what) {
  CloseReport r;
  if (actual.shape() != expected.shape()) {
    r.ok = false;
    r.message = fmt::format("{}: shape {} differs from expected {}", what, shape_str(actual.shape()),
                            shape_str(expected.shape()));
    return r;
  }
  const std::vector<double> a = actual.to_vector<double>(), b = expected.to_vector<double>();
  double worst_excess = 0;
  int64_t bad = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const bool both_nan = std::isnan(a[i]) && std::isnan(b[i]);
    const double diff = both_nan ? 0 : std::abs(a[i] - b[i]);
    const double allowed = atol + rtol * std::abs(b[i]);
    r.max_abs_diff = std::max(r.max_abs_diff, std::isnan(diff) ? INFINITY : diff);
    const double excess = std::isnan(diff) ? INFINITY : diff - allowed;
    if (excess > 0) ++bad;
    if (r.worst_index < 0 || excess > worst_excess) {
      worst_excess = excess;
      r.worst_index = int64_t(i);
      r.worst_actual = a[i];
      r.worst_expected = b[i];
    }
  }
  if (bad > 0) {
    r.ok = false;
    r.message = fmt::format(
        "{}: {} of {} elements differ beyond |a-b| <= {:g} + {:g}*|b|; worst at flat index {}: got {:.9g}, expected "
        "{:.9g} (|diff| {:.3g})",
        what, bad, a.size(), atol, rtol, r.worst_index, r.worst_actual, r.worst_expected,
        std::abs(r.worst_actual - r.worst_expected));
  }
  return r;
}

}  // namespace moco
