// The contrastive losses, by hand on tiny inputs and by float64 gradcheck.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/ops.h"
#include "contrastive/infonce.h"
#include "test_util.h"

using namespace moco;
using namespace moco::contrastive;

TEST_CASE("InfoNCE logits [q·k, q·queue]/T with label 0, by hand") {
  // Two 2-d unit queries, their keys, three negatives.
  const double s = std::sqrt(0.5);
  Tensor q = Tensor::from_vector(std::vector<double>{1, 0, s, s}, {2, 2});
  Tensor k = Tensor::from_vector(std::vector<double>{s, s, 0, 1}, {2, 2});
  Tensor neg = Tensor::from_vector(std::vector<double>{1, 0, 0, 1, -1, 0}, {3, 2});
  const double T = 0.5;
  ContrastiveLoss l = infonce_loss(q, k, neg, T);
  const std::vector<double> expected = {s / T, 1 / T, 0, -1 / T,  // row 0: q·k = s; q·negatives = 1, 0, -1
                                        s / T, s / T, s / T, -s / T};
  CHECK_CLOSE(l.logits, Tensor::from_vector(expected, {2, 4}), 1e-12, 0);
  CHECK(l.labels.dtype() == DType::i64);
  CHECK(l.labels.to_vector<int64_t>() == std::vector<int64_t>{0, 0});
  double loss = 0;
  for (int r = 0; r < 2; ++r) {
    double z = 0;
    for (int c = 0; c < 4; ++c) z += std::exp(expected[size_t(r * 4 + c)]);
    loss += std::log(z) - expected[size_t(r * 4)];
  }
  CHECK(l.loss.item() == doctest::Approx(loss / 2).epsilon(1e-12));
}

TEST_CASE("InfoNCE gradient flows into q only (float64 gradcheck)") {
  Tensor q = testing::leaf({4, 3}, 1);
  Tensor k = normalize(testing::rnd({4, 3}, 2), 1).requires_grad_();
  Tensor neg = normalize(testing::rnd({6, 3}, 3), 1);
  CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return infonce_loss(normalize(in[0], 1), k, neg, 0.2).loss; },
                  (std::vector<Tensor>{q}));
  Tensor loss = infonce_loss(normalize(q, 1), k, neg, 0.2).loss;
  loss.backward();
  CHECK(!k.grad().defined());  // keys are constants (computed with no grad in MoCo)
}

TEST_CASE("ctr loss of MoCo v3: CE(q·kᵀ/T, arange)·2T on normalised q, k") {
  Tensor q = testing::rnd({3, 4}, 5), k = testing::rnd({3, 4}, 6);
  const double T = 0.2;
  ContrastiveLoss l = ctr_loss(q, k, T);
  Tensor qn = normalize(q, 1), kn = normalize(k, 1);
  CHECK_CLOSE(l.logits, div(matmul(qn, kn.t()), Tensor::scalar(T, DType::f64)), 1e-12, 0);
  CHECK(l.labels.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2});
  const auto lg = l.logits.to_vector<double>();
  double loss = 0;
  for (int r = 0; r < 3; ++r) {
    double z = 0;
    for (int c = 0; c < 3; ++c) z += std::exp(lg[size_t(r * 3 + c)]);
    loss += std::log(z) - lg[size_t(r * 3 + r)];
  }
  CHECK(l.loss.item() == doctest::Approx(loss / 3 * 2 * T).epsilon(1e-12));
  // Scale invariance: q and k are normalised inside.
  CHECK(ctr_loss(mul(q, 3.0), mul(k, 0.5), T).loss.item() == doctest::Approx(l.loss.item()).epsilon(1e-12));
  CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return ctr_loss(in[0], k, T).loss; },
                  (std::vector<Tensor>{testing::leaf({3, 4}, 7)}));
}

TEST_CASE("ctr loss on rank r of R (every rank's keys, labels offset by n·r): the rows of the global one") {
  // 3 ranks of 2 queries: the mean of the ranks' losses is the loss over all 6 queries, and each rank's logits
  // and labels are its rows of the one-process ones.
  Tensor q = testing::rnd({6, 4}, 8), k = testing::rnd({6, 4}, 9);
  const double T = 0.3;
  const ContrastiveLoss all = ctr_loss(q, k, T);
  double mean = 0;
  for (int64_t r = 0; r < 3; ++r) {
    const ContrastiveLoss l = ctr_loss(q.narrow(0, 2 * r, 2), k, T, 2 * r);
    CHECK_CLOSE(l.logits, all.logits.narrow(0, 2 * r, 2), 1e-12, 0);
    CHECK(l.labels.to_vector<int64_t>() == std::vector<int64_t>{2 * r, 2 * r + 1});
    mean += l.loss.item() / 3;
  }
  CHECK(mean == doctest::Approx(all.loss.item()).epsilon(1e-12));
}

TEST_CASE("loss argument errors") {
  Tensor q = Tensor::zeros({2, 3});
  CHECK_THROWS_CONTAINS(infonce_loss(q, Tensor::zeros({2, 4}), Tensor::zeros({5, 3}), 0.2), "must both be [N, C]");
  CHECK_THROWS_CONTAINS(infonce_loss(q, q, Tensor::zeros({5, 4}), 0.2), "negatives must be [K, 3]");
  CHECK_THROWS_CONTAINS(infonce_loss(q, q, Tensor::zeros({5, 3}), 0), "must be positive");
  CHECK_THROWS_CONTAINS(ctr_loss(q, Tensor::zeros({3, 4}), 0.2), "must be [N, C] and [M, C]");
  CHECK_THROWS_CONTAINS(ctr_loss(q, Tensor::zeros({3, 3}), 0.2, 2), "the positives of 2 queries from key 2 on are "
                                                                    "past the 3 keys");
}
