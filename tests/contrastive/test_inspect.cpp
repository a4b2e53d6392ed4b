// contrastive/inspect.h: the neighbour search against a brute-force loop,
// histogram binning and quantiles against values worked out by hand, the
// pairwise similarity sample, and the split of logits into positives and
// negatives.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "contrastive/inspect.h"
#include "test_util.h"

using namespace moco;
using namespace moco::contrastive;

namespace {
Tensor mat(const std::vector<double>& v, int64_t rows, int64_t cols) { return Tensor::from_vector(v, {rows, cols}); }

double cosine(const std::vector<double>& a, const std::vector<double>& b, int64_t i, int64_t j, int64_t d) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t c = 0; c < d; ++c) {
    ab += a[size_t(i * d + c)] * b[size_t(j * d + c)];
    aa += a[size_t(i * d + c)] * a[size_t(i * d + c)];
    bb += b[size_t(j * d + c)] * b[size_t(j * d + c)];
  }
  return ab / std::sqrt(aa * bb);
}
}  // namespace

TEST_CASE("nearest_neighbours: the k most similar bank rows by cosine, as a brute-force search finds them") {
  const int64_t Q = 5, N = 40, d = 6, k = 7;
  // Unnormalised rows of different lengths: only the direction may count.
  const Tensor q = testing::rnd({Q, d}, 11), bank = mul(testing::rnd({N, d}, 12), 3.0);
  const std::vector<double> qv = q.to_vector<double>(), bv = bank.to_vector<double>();
  const Neighbours nb = nearest_neighbours(q, bank, k);
  REQUIRE(nb.queries == Q);
  REQUIRE(nb.k == k);
  for (int64_t i = 0; i < Q; ++i) {
    // Brute force: every similarity, sorted descending.
    std::vector<std::pair<double, int64_t>> all;
    for (int64_t j = 0; j < N; ++j) all.emplace_back(-cosine(qv, bv, i, j, d), j);
    std::sort(all.begin(), all.end());
    for (int64_t j = 0; j < k; ++j) {
      INFO("query " << i << ", neighbour " << j);
      CHECK(nb.at(i, j) == all[size_t(j)].second);
      CHECK(nb.sim_at(i, j) == doctest::Approx(-all[size_t(j)].first).epsilon(1e-12));
    }
  }
  // float32 features (what encoders give) rank the same way here.
  const Neighbours f32 = nearest_neighbours(q.to(DType::f32), bank.to(DType::f32), k);
  CHECK(f32.index == nb.index);
}

TEST_CASE("nearest_neighbours: ties go to the lower bank index, k is capped at the bank size") {
  // Rows 0 and 2 are the same direction; row 1 is opposite.
  const Tensor bank = mat({1, 0, -1, 0, 2, 0}, 3, 2);
  const Neighbours nb = nearest_neighbours(mat({5, 0}, 1, 2), bank, 10);
  CHECK(nb.k == 3);
  CHECK(nb.index == std::vector<int64_t>{0, 2, 1});
  CHECK(nb.sim == std::vector<double>{1, 1, -1});
  CHECK_THROWS_CONTAINS(nearest_neighbours(mat({1, 0, 0}, 1, 3), bank, 2), "differ in width");
  CHECK_THROWS_CONTAINS(nearest_neighbours(mat({1, 0}, 1, 2), bank, 0), "k = 0");
}

TEST_CASE("histogram: equal-width bins, the top edge in the last bin, out-of-range and NaN counted apart") {
  const double nan = std::nan("");
  // [-1, 1] in 4 bins: edges -1, -0.5, 0, 0.5, 1.
  const Histogram h = histogram({-1, -0.5, 0, 0.49, 0.5, 1, 1.5, -2, nan, -0.75}, -1, 1, 4);
  CHECK(h.counts == std::vector<int64_t>{2, 1, 2, 2});
  CHECK(h.below == 1);
  CHECK(h.above == 1);
  CHECK(h.nonfinite == 1);
  CHECK(h.in_range() == 7);
  CHECK(h.width() == 0.5);
  CHECK(h.centre(0) == -0.75);
  CHECK(h.centre(3) == 0.75);
  // density = count / (9 finite values x 0.5)
  const std::vector<double> dens = h.density();
  CHECK(dens[0] == doctest::Approx(2.0 / 4.5));
  CHECK(dens[1] == doctest::Approx(1.0 / 4.5));
  // Unit bins centred on the integers: how queue ages are binned.
  const Histogram ages = histogram({0, 0, 1, 3, 3, 3}, -0.5, 3.5, 4);
  CHECK(ages.counts == std::vector<int64_t>{2, 1, 0, 3});
  CHECK_THROWS_CONTAINS(histogram({1}, 1, 1, 4), "lo < hi");
  CHECK_THROWS_CONTAINS(histogram({1}, 0, 1, 0), "0 bins");
}

TEST_CASE("quantile and summarize: interpolation between order statistics, as numpy") {
  const std::vector<double> v = {4, 1, 3, 2, 10};  // sorted 1 2 3 4 10
  CHECK(quantile(v, 0) == 1);
  CHECK(quantile(v, 1) == 10);
  CHECK(quantile(v, 0.5) == 3);
  CHECK(quantile(v, 0.9) == doctest::Approx(7.6));  // position 3.6: 4 + 0.6 x 6
  CHECK(quantile({7}, 0.3) == 7);
  CHECK_THROWS_CONTAINS(quantile({}, 0.5), "no values");
  const Summary s = summarize(v);
  CHECK(s.n == 5);
  CHECK(s.mean == 4);
  CHECK(s.std == doctest::Approx(std::sqrt((9 + 4 + 1 + 0 + 36) / 5.0)));
  CHECK(s.min == 1);
  CHECK(s.max == 10);
  CHECK(s.p05 == doctest::Approx(1.2));
  CHECK(s.p50 == 3);
  CHECK(s.p95 == doctest::Approx(8.8));
  CHECK(summarize({}).n == 0);
}

TEST_CASE("pairwise_cosines: every pair when few, a seeded sample of real pairs when many") {
  const Tensor x = testing::rnd({6, 4}, 21);
  const std::vector<double> xv = x.to_vector<double>();
  const std::vector<double> all = pairwise_cosines(x, 15, 0);
  REQUIRE(all.size() == 15);  // 6 x 5 / 2
  size_t p = 0;
  std::set<long long> valid;
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = i + 1; j < 6; ++j) {
      CHECK(all[p++] == doctest::Approx(cosine(xv, xv, i, j, 4)).epsilon(1e-12));
      valid.insert(std::llround(cosine(xv, xv, i, j, 4) * 1e9));
    }
  const std::vector<double> some = pairwise_cosines(x, 10, 7);
  REQUIRE(some.size() == 10);
  for (double v : some) CHECK(valid.count(std::llround(v * 1e9)) == 1);  // a pair of two different rows
  CHECK(pairwise_cosines(x, 10, 7) == some);                             // the seed fixes the sample
  CHECK(pairwise_cosines(x, 10, 8) != some);
  CHECK_THROWS_CONTAINS(pairwise_cosines(mat({1, 0}, 1, 2), 10, 0), "at least 2 rows");
}

TEST_CASE("logit_cosines: positives at the label's column, the rest negatives, times T; negatives above the positive") {
  const double T = 0.5;
  // v1/v2 layout: the positive in column 0. Row 1 has one negative above its positive.
  const Tensor l = mat({1.6, 0.2, -0.4, 0.8, 1.0, 0.6}, 2, 3);
  const Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 0}, {2});
  LogitCosines c = logit_cosines({l}, {y}, T);
  CHECK(c.pos == std::vector<double>{0.8, 0.4});
  CHECK(c.neg == std::vector<double>{0.1, -0.2, 0.5, 0.3});
  CHECK(c.neg_above_pos == 1);
  CHECK(c.rows_beaten == 1);
  CHECK(c.rows == 2);
  // v3 layout: two [N, N] matrices, the diagonal positive.
  const Tensor d = mat({2, 3, 4, 1}, 2, 2);
  const Tensor ar = Tensor::from_vector(std::vector<int64_t>{0, 1}, {2});
  c = logit_cosines({d, d}, {ar, ar}, 1.0);
  CHECK(c.pos == std::vector<double>{2, 1, 2, 1});
  CHECK(c.neg == std::vector<double>{3, 4, 3, 4});
  CHECK(c.neg_above_pos == 4);
  CHECK(c.rows_beaten == 4);
  CHECK_THROWS_CONTAINS(logit_cosines({l}, {Tensor::from_vector(std::vector<int64_t>{0, 3}, {2})}, T), "label 3");
}
