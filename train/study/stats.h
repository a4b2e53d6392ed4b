// The statistics of the seed study: mean and sample standard deviation over
// seeds, and a paired difference with its 95% confidence interval from the
// t-distribution, read as one of three verdicts.
//
// Paired, because the same seed gives two models the same labelled subset,
// data order and validation images: differences within a seed cancel that
// shared luck, so a claim can be called with fewer seeds than two
// independent samples would need.
#pragma once
#include <string>
#include <vector>

namespace moco::train {

double mean_of(const std::vector<double>& v);
// Sample standard deviation (n - 1 in the denominator); 0 for fewer than 2 values.
double std_of(const std::vector<double>& v);
// The 0.975 quantile of Student's t with `df` degrees of freedom (df >= 1):
// the multiplier of a two-sided 95% interval.
double t975(int df);

struct PairedDiff {
  int n = 0;
  double mean = 0, std = 0;
  double lo = 0, hi = 0;  // 95% CI of the mean difference; NaN for n < 2 (no spread to estimate)
  std::string verdict;    // holds | reversed | not resolved at this budget
};

// d_i = a_i - b_i over seeds i. The claim is "a > b": it holds when the whole
// interval lies above 0, is reversed when it lies below 0, and is not resolved
// at this budget when the interval contains 0 (or fewer than 2 seeds ran).
PairedDiff paired_difference(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace moco::train
