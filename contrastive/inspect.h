// What a trained MoCo model's features look like, as numbers `moco inspect`
// turns into pictures: nearest neighbours in feature space (the retrieval
// sheet), the positive and negative logits of a batch as cosine
// similarities, pairwise similarities among keys, and the histograms and
// summaries that condense them.
//
// All of it runs under no grad on detached values and returns plain host
// vectors in float64 (tensors elsewhere are copied to the CPU first).
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace moco::contrastive {

// The k rows of a bank most similar to each query by cosine similarity (both
// sides are L2-normalised here), as the kNN monitor ranks them: most similar
// first, ties to the lower bank index. k is capped at the bank size.
struct Neighbours {
  int64_t queries = 0, k = 0;
  std::vector<int64_t> index;  // [queries * k], row-major: bank rows
  std::vector<double> sim;     // their cosine similarities, same layout
  int64_t at(int64_t q, int64_t j) const { return index[size_t(q * k + j)]; }
  double sim_at(int64_t q, int64_t j) const { return sim[size_t(q * k + j)]; }
};
Neighbours nearest_neighbours(const Tensor& queries, const Tensor& bank, int64_t k);

// Equal-width bins over [lo, hi]: bin i holds lo + i·w <= v < lo + (i+1)·w,
// w = (hi − lo) / bins, and the last bin also holds v == hi. Values outside
// are counted in below / above, NaN and infinities in nonfinite.
struct Histogram {
  double lo = 0, hi = 1;
  std::vector<int64_t> counts;
  int64_t below = 0, above = 0, nonfinite = 0;

  double width() const { return (hi - lo) / double(counts.size()); }
  double centre(size_t i) const { return lo + (double(i) + 0.5) * width(); }
  int64_t in_range() const;
  // counts[i] / (n · width), n = every finite value (in range or not): curves
  // of samples of very different sizes (a batch's positives, its negatives)
  // become comparable, and the area over [lo, hi] is the fraction in range.
  std::vector<double> density() const;
};
Histogram histogram(const std::vector<double>& values, double lo, double hi, int64_t bins);

// The q-quantile (q in [0, 1]) by linear interpolation between order
// statistics (numpy's default); `values` must be non-empty.
double quantile(std::vector<double> values, double q);

struct Summary {
  int64_t n = 0;
  double mean = 0, std = 0;  // std over the values (divided by n, as logit_stats)
  double min = 0, p05 = 0, p50 = 0, p95 = 0, max = 0;
};
Summary summarize(const std::vector<double>& values);  // all zeros for no values

// Cosine similarities between different rows of x [K, d]: every pair i < j
// in order when there are at most max_pairs of them, else max_pairs pairs
// (i != j, drawn uniformly with replacement) from a generator seeded with
// `seed`, so that a queue of 65536 keys costs max_pairs dot products.
std::vector<double> pairwise_cosines(const Tensor& x, int64_t max_pairs, uint64_t seed);

// The logits of one or more [N, C] matrices with their int64 [N] labels (the
// positive's column), times T: cosine similarities, the positives and the
// negatives (v1/v2 the queue's columns; v3 the off-diagonal).
struct LogitCosines {
  std::vector<double> pos, neg;
  int64_t neg_above_pos = 0;  // negatives larger than their row's positive
  int64_t rows_beaten = 0;    // rows with at least one of them: the instance discrimination misses
  int64_t rows = 0;
};
LogitCosines logit_cosines(const std::vector<Tensor>& logits, const std::vector<Tensor>& labels, double T);

}  // namespace moco::contrastive
