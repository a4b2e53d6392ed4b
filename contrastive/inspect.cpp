#include "contrastive/inspect.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "tensor/random.h"

namespace moco::contrastive {

namespace {

void check_matrix(const Tensor& t, const char* who, const char* what) {
  MOCO_CHECK(t.defined() && t.dim() == 2, "{}: {} must be a [N, d] matrix, got {}", who, what,
             t.defined() ? shape_str(t.shape()) : std::string("an undefined tensor"));
}

// Row-major float64 values of `t` on the host.
std::vector<double> host_values(const Tensor& t) {
  NoGradGuard no_grad;
  Tensor c = t.detach();
  if (!c.device().is_cpu()) c = c.to(Device::cpu());
  return c.to(DType::f64).contiguous().to_vector<double>();
}

}  // namespace

Neighbours nearest_neighbours(const Tensor& queries, const Tensor& bank, int64_t k) {
  check_matrix(queries, "nearest_neighbours", "queries");
  check_matrix(bank, "nearest_neighbours", "the bank");
  MOCO_CHECK(queries.size(1) == bank.size(1), "nearest_neighbours: queries {} and bank {} differ in width",
             shape_str(queries.shape()), shape_str(bank.shape()));
  MOCO_CHECK(bank.size(0) > 0 && k > 0, "nearest_neighbours: k = {} over a bank of {} rows", k, bank.size(0));
  NoGradGuard no_grad;
  const int64_t Q = queries.size(0), N = bank.size(0);
  k = std::min(k, N);
  Tensor q = queries.detach();
  if (q.device() != bank.device()) q = q.to(bank.device());
  if (q.dtype() != bank.dtype()) q = q.to(bank.dtype());
  const std::vector<double> sim = host_values(matmul(normalize(q, 1), normalize(bank.detach(), 1).t()));
  Neighbours out;
  out.queries = Q;
  out.k = k;
  out.index.resize(size_t(Q * k));
  out.sim.resize(size_t(Q * k));
  std::vector<int64_t> idx(static_cast<size_t>(N));
  for (int64_t i = 0; i < Q; ++i) {
    const double* row = sim.data() + i * N;
    std::iota(idx.begin(), idx.end(), int64_t(0));
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                      [row](int64_t a, int64_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
    for (int64_t j = 0; j < k; ++j) {
      out.index[size_t(i * k + j)] = idx[size_t(j)];
      out.sim[size_t(i * k + j)] = row[idx[size_t(j)]];
    }
  }
  return out;
}

int64_t Histogram::in_range() const { return std::accumulate(counts.begin(), counts.end(), int64_t(0)); }

std::vector<double> Histogram::density() const {
  const double n = double(in_range() + below + above), w = width();
  std::vector<double> d(counts.size(), 0.0);
  if (n > 0)
    for (size_t i = 0; i < counts.size(); ++i) d[i] = double(counts[i]) / (n * w);
  return d;
}

Histogram histogram(const std::vector<double>& values, double lo, double hi, int64_t bins) {
  MOCO_CHECK(bins >= 1 && std::isfinite(lo) && std::isfinite(hi) && lo < hi,
             "histogram: {} bins over [{}, {}] (need at least one bin and lo < hi)", bins, lo, hi);
  Histogram h;
  h.lo = lo;
  h.hi = hi;
  h.counts.assign(size_t(bins), 0);
  for (double v : values) {
    if (!std::isfinite(v)) {
      ++h.nonfinite;
    } else if (v < lo) {
      ++h.below;
    } else if (v > hi) {
      ++h.above;
    } else {
      // (v − lo)·bins / (hi − lo) rather than (v − lo) / width: edges that are
      // exact in decimal (0.5 of [−1, 1] in 4 bins) land in the bin they open.
      const int64_t i = std::min(bins - 1, int64_t(std::floor((v - lo) * double(bins) / (hi - lo))));
      ++h.counts[size_t(i)];
    }
  }
  return h;
}

double quantile(std::vector<double> values, double q) {
  MOCO_CHECK(!values.empty(), "quantile: no values");
  MOCO_CHECK(q >= 0 && q <= 1, "quantile: q = {} is outside [0, 1]", q);
  std::sort(values.begin(), values.end());
  const double pos = q * double(values.size() - 1);
  const size_t i = size_t(std::floor(pos));
  if (i + 1 >= values.size()) return values.back();
  return values[i] + (pos - double(i)) * (values[i + 1] - values[i]);
}

Summary summarize(const std::vector<double>& values) {
  Summary s;
  if (values.empty()) return s;
  s.n = int64_t(values.size());
  double sum = 0, sq = 0;
  for (double v : values) sum += v;
  s.mean = sum / double(s.n);
  for (double v : values) sq += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(sq / double(s.n));
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  s.min = sorted.front();
  s.max = sorted.back();
  s.p05 = quantile(sorted, 0.05);
  s.p50 = quantile(sorted, 0.5);
  s.p95 = quantile(sorted, 0.95);
  return s;
}

std::vector<double> pairwise_cosines(const Tensor& x, int64_t max_pairs, uint64_t seed) {
  check_matrix(x, "pairwise_cosines", "x");
  const int64_t K = x.size(0), d = x.size(1);
  MOCO_CHECK(K >= 2, "pairwise_cosines: needs at least 2 rows, got {}", K);
  MOCO_CHECK(max_pairs >= 1, "pairwise_cosines: max_pairs = {} must be positive", max_pairs);
  std::vector<double> u = host_values(x);
  for (int64_t i = 0; i < K; ++i) {
    double s = 0;
    for (int64_t j = 0; j < d; ++j) s += u[size_t(i * d + j)] * u[size_t(i * d + j)];
    const double inv = 1.0 / std::max(std::sqrt(s), 1e-12);  // normalize()'s eps
    for (int64_t j = 0; j < d; ++j) u[size_t(i * d + j)] *= inv;
  }
  auto dot = [&](int64_t i, int64_t j) {
    double s = 0;
    for (int64_t c = 0; c < d; ++c) s += u[size_t(i * d + c)] * u[size_t(j * d + c)];
    return s;
  };
  std::vector<double> out;
  const double all = 0.5 * double(K) * double(K - 1);
  if (all <= double(max_pairs)) {
    out.reserve(size_t(all));
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = i + 1; j < K; ++j) out.push_back(dot(i, j));
    return out;
  }
  Generator gen(seed);
  out.reserve(size_t(max_pairs));
  for (int64_t p = 0; p < max_pairs; ++p) {
    const int64_t i = gen.randint(0, K);
    int64_t j = gen.randint(0, K - 1);
    if (j >= i) ++j;  // uniform over the K − 1 other rows
    out.push_back(dot(i, j));
  }
  return out;
}

LogitCosines logit_cosines(const std::vector<Tensor>& logits, const std::vector<Tensor>& labels, double T) {
  MOCO_CHECK(!logits.empty() && logits.size() == labels.size(), "logit_cosines: {} logits and {} labels",
             logits.size(), labels.size());
  LogitCosines r;
  for (size_t m = 0; m < logits.size(); ++m) {
    check_matrix(logits[m], "logit_cosines", "logits");
    const int64_t N = logits[m].size(0), C = logits[m].size(1);
    const std::vector<int64_t> lab = labels[m].to(Device::cpu()).contiguous().to_vector<int64_t>();
    MOCO_CHECK(int64_t(lab.size()) == N, "logit_cosines: {} labels for {} rows", lab.size(), N);
    const std::vector<double> v = host_values(logits[m]);
    for (int64_t i = 0; i < N; ++i) {
      const int64_t y = lab[size_t(i)];
      MOCO_CHECK(y >= 0 && y < C, "logit_cosines: label {} outside [0, {})", y, C);
      const double pos = v[size_t(i * C + y)] * T;
      r.pos.push_back(pos);
      int64_t above = 0;
      for (int64_t j = 0; j < C; ++j) {
        if (j == y) continue;
        const double n = v[size_t(i * C + j)] * T;
        r.neg.push_back(n);
        above += n > pos;
      }
      r.neg_above_pos += above;
      r.rows_beaten += above > 0;
      ++r.rows;
    }
  }
  return r;
}

}  // namespace moco::contrastive
