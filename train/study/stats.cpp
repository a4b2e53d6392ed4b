#include "train/study/stats.h"

#include <cmath>
#include <limits>

#include "tensor/error.h"

namespace moco::train {

double mean_of(const std::vector<double>& v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}

double std_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size() - 1));
}

double t975(int df) {
  MOCO_CHECK(df >= 1, "t975: degrees of freedom must be at least 1, got {}", df);
  // Exact to the printed digits for df 1..30 (any statistics table); above,
  // the Cornish-Fisher expansion around z = 1.959964 is within 1e-5.
  static const double table[30] = {12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
                                   2.2010,  2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
                                   2.0796,  2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423};
  if (df <= 30) return table[df - 1];
  const double z = 1.959963985, n = double(df), z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
  return z + (z3 + z) / (4 * n) + (5 * z5 + 16 * z3 + 3 * z) / (96 * n * n) +
         (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * n * n * n);
}

PairedDiff paired_difference(const std::vector<double>& a, const std::vector<double>& b) {
  MOCO_CHECK(a.size() == b.size() && !a.empty(), "paired_difference: needs two equal, non-empty lists (got {} and {})",
             a.size(), b.size());
  std::vector<double> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  PairedDiff r;
  r.n = int(d.size());
  r.mean = mean_of(d);
  r.std = std_of(d);
  if (r.n < 2) {
    r.lo = r.hi = std::numeric_limits<double>::quiet_NaN();
    r.verdict = "not resolved at this budget";
    return r;
  }
  const double half = t975(r.n - 1) * r.std / std::sqrt(double(r.n));
  r.lo = r.mean - half;
  r.hi = r.mean + half;
  r.verdict = r.lo > 0 ? "holds" : r.hi < 0 ? "reversed" : "not resolved at this budget";
  return r;
}

}  // namespace moco::train
