// The kNN monitor: the demo's weighted vote by hand, and a whole evaluation
// through the data loader.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/ops.h"
#include "contrastive/knn.h"
#include "data/dataset.h"
#include "nn/activation.h"
#include "test_util.h"

using namespace moco;
using namespace moco::contrastive;

namespace {
FeatureBank toy_bank() {
  // (1, 0) class 0, (0, 1) class 1, (1, 1)/√2 class 1; unnormalised on purpose.
  Tensor f = Tensor::from_vector(std::vector<float>{2, 0, 0, 3, 1, 1}, {3, 2});
  return make_feature_bank(f, Tensor::from_vector(std::vector<int64_t>{0, 1, 1}, {3}), 2);
}
}  // namespace

TEST_CASE("kNN scores: exp(similarity / T) summed per class over the k nearest") {
  FeatureBank bank = toy_bank();
  CHECK_CLOSE(sum(mul(bank.features, bank.features), {1}), Tensor::ones({3}), 1e-6, 0);
  const double s = std::sqrt(0.5), T = 0.1;
  Tensor q = Tensor::from_vector(std::vector<float>{1, 0, 0.6f, 0.8f}, {2, 2});
  // k = 2. Row 0: neighbours (1,0) sim 1 and the diagonal sim s. Row 1: the diagonal (0.9899) and (0,1) (0.8).
  Tensor scores = knn_scores(q, bank, 2, T);
  const double d1 = (0.6 + 0.8) * s;
  std::vector<double> expected = {std::exp(1 / T), std::exp(s / T), 0, std::exp(d1 / T) + std::exp(0.8 / T)};
  CHECK_CLOSE(scores, Tensor::from_vector(expected, {2, 2}), 0, 1e-5);
  CHECK(knn_predict(q, bank, 2, T).to_vector<int64_t>() == std::vector<int64_t>{0, 1});
  // k = 1 for row 1 picks the diagonal; k beyond the bank size uses the whole bank.
  CHECK(knn_predict(q, bank, 1, T).to_vector<int64_t>() == std::vector<int64_t>{0, 1});
  Tensor all = knn_scores(q, bank, 200, T);
  expected = {std::exp(1 / T), std::exp(0.0) + std::exp(s / T), std::exp(0.6 / T), std::exp(0.8 / T) + std::exp(d1 / T)};
  CHECK_CLOSE(all, Tensor::from_vector(expected, {2, 2}), 0, 1e-5);
}

TEST_CASE("kNN: the similarity weighting decides against the majority") {
  // Query (1, 0); one class-0 neighbour at sim 0.99, two class-1 neighbours at sim 0.8.
  const double c = 0.99, sc = std::sqrt(1 - c * c), d = 0.8, sd = 0.6;
  Tensor f = Tensor::from_vector(std::vector<double>{c, sc, d, sd, d, -sd}, {3, 2});
  FeatureBank bank = make_feature_bank(f, Tensor::from_vector(std::vector<int64_t>{0, 1, 1}, {3}), 2);
  Tensor q = Tensor::from_vector(std::vector<double>{1, 0}, {1, 2});
  CHECK(knn_predict(q, bank, 3, 0.1).item() == 0);  // e^9.9 > 2·e^8
  CHECK(knn_predict(q, bank, 3, 1.0).item() == 1);  // e^0.99 < 2·e^0.8
}

TEST_CASE("kNN argument errors") {
  FeatureBank bank = toy_bank();
  CHECK_THROWS_CONTAINS(knn_predict(Tensor::zeros({1, 3}), bank), "features must be [B, 2]");
  CHECK_THROWS_CONTAINS(knn_predict(Tensor::zeros({1, 2}), bank, 0), "must be positive");
  CHECK_THROWS_CONTAINS(make_feature_bank(Tensor::zeros({3, 2}), Tensor::from_vector(std::vector<int64_t>{0, -1, 1}, {3}), 2),
                        "outside [0, 2)");
  CHECK_THROWS_CONTAINS(make_feature_bank(Tensor::zeros({3, 2}), Tensor::zeros({2}, DType::i64), 2),
                        "labels must be int64 [3]");
}

namespace {
// 4×4 gray images: class 0 bright on the left, class 1 bright on the right, with noise.
data::DatasetPtr halves(int n, uint64_t seed) {
  Generator g(seed);
  std::vector<uint8_t> px;
  std::vector<int64_t> labels;
  for (int i = 0; i < n; ++i) {
    const int64_t label = i % 2;
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) {
        const bool bright = (x < 2) == (label == 0);
        px.push_back(uint8_t((bright ? 180 : 30) + g.randint(0, 60)));
      }
    labels.push_back(label);
  }
  return std::make_shared<data::MemoryDataset>("halves", 4, 4, 1, px, labels, std::vector<std::string>{"left", "right"});
}

data::Pipeline identity_pipeline() {
  data::Pipeline p;
  p.channels = 1;
  p.size = 4;
  p.views = {std::make_shared<data::Compose>(std::vector<data::TransformPtr>{})};
  p.name = "identity";
  return p;
}

data::LoaderOptions eval_options() {
  data::LoaderOptions o;
  o.batch_size = 5;
  o.shuffle = false;
  o.drop_last = false;
  o.num_workers = 0;
  return o;
}
}  // namespace

TEST_CASE("knn_evaluate over loaders: bank from the memory set, top-1 on the test set") {
  data::DataLoader memory(halves(30, 1), identity_pipeline(), eval_options());
  data::DataLoader test(halves(11, 2), identity_pipeline(), eval_options());
  // Centered pixels as features: the two classes point in opposite directions.
  FeatureFn f = [](const Tensor& x) { return add(x.flatten(1), -0.5); };
  FeatureBank bank = extract_feature_bank(f, memory, 2);
  CHECK(bank.features.shape() == Shape{30, 16});
  CHECK(bank.labels.to_vector<int64_t>()[29] == 1);
  KnnResult r = knn_evaluate(f, memory, test, 2, 200, 0.1);
  CHECK(r.total == 11);
  CHECK(r.correct == 11);
  CHECK(r.top1() == doctest::Approx(100.0));
  // A feature that carries no class information: chance at best.
  KnnResult blind = knn_evaluate([](const Tensor& x) { return add(mul(x.flatten(1), 0.0), 1.0); }, memory, test, 2, 200, 0.1);
  CHECK(blind.correct <= 6);

  // The module form sets eval mode for the pass and restores the mode.
  nn::Flatten flat;
  flat.train();
  KnnResult rm = knn_evaluate(flat, memory, test, 2, 5, 0.1);
  CHECK(rm.total == 11);
  CHECK(rm.correct == 11);
  CHECK(flat.is_training());
}
