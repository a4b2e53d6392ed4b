#include "contrastive/knn.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "autograd/engine.h"
#include "autograd/ops.h"

namespace moco::contrastive {

FeatureBank make_feature_bank(const Tensor& features, const Tensor& labels, int64_t num_classes) {
  MOCO_CHECK(features.dim() == 2 && features.size(0) > 0, "kNN: bank features must be [N, D], got {}",
             shape_str(features.shape()));
  MOCO_CHECK(labels.dim() == 1 && labels.size(0) == features.size(0) && labels.dtype() == DType::i64,
             "kNN: bank labels must be int64 [{}], got {} {}", features.size(0), shape_str(labels.shape()),
             dtype_name(labels.dtype()));
  MOCO_CHECK(num_classes > 0, "kNN: num_classes must be positive, got {}", num_classes);
  Tensor lab = labels.to(Device::cpu()).contiguous();
  for (int64_t v : lab.to_vector<int64_t>())
    MOCO_CHECK(v >= 0 && v < num_classes, "kNN: bank label {} is outside [0, {}) (unlabeled samples cannot vote)", v,
               num_classes);
  NoGradGuard no_grad;
  return {normalize(features.detach(), 1).contiguous(), lab, num_classes};
}

Tensor knn_scores(const Tensor& features, const FeatureBank& bank, int64_t k, double T) {
  MOCO_CHECK(bank.features.defined(), "kNN: the feature bank is empty");
  MOCO_CHECK(features.dim() == 2 && features.size(1) == bank.features.size(1),
             "kNN: features must be [B, {}] like the bank, got {}", bank.features.size(1), shape_str(features.shape()));
  MOCO_CHECK(k > 0 && T > 0, "kNN: k = {} and T = {} must be positive", k, T);
  NoGradGuard no_grad;
  const int64_t B = features.size(0), N = bank.features.size(0), C = bank.num_classes;
  k = std::min(k, N);
  Tensor f = features.detach();
  if (f.device() != bank.features.device()) f = f.to(bank.features.device());
  if (f.dtype() != bank.features.dtype()) f = f.to(bank.features.dtype());
  const int64_t* lab = bank.labels.data<int64_t>();
  std::vector<double> scores(size_t(B * C), 0.0);
  // [rows, N] cosine similarities (torch.mm(feature, feature_bank)) a chunk of rows at a time, then topk on the host.
  const int64_t chunk = 128;
  for (int64_t r0 = 0; r0 < B; r0 += chunk) {
    const int64_t rows = std::min(chunk, B - r0);
    const std::vector<float> sim = matmul(f.narrow(0, r0, rows), bank.features.t()).to(DType::f32).to_vector<float>();
#pragma omp parallel
    {
      std::vector<int64_t> idx(static_cast<size_t>(N));
#pragma omp for schedule(dynamic, 1)
      for (int64_t b = 0; b < rows; ++b) {
        const float* row = sim.data() + b * N;
        std::iota(idx.begin(), idx.end(), int64_t(0));
        // topk: the k largest similarities (ties: the lower bank index first)
        std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [row](int64_t i, int64_t j) {
          return row[i] > row[j] || (row[i] == row[j] && i < j);
        });
        double* s = scores.data() + (r0 + b) * C;
        for (int64_t j = 0; j < k; ++j) s[lab[idx[size_t(j)]]] += std::exp(double(row[idx[size_t(j)]]) / T);
      }
    }
  }
  return Tensor::from_vector(scores, {B, C});
}

Tensor knn_predict(const Tensor& features, const FeatureBank& bank, int64_t k, double T) {
  Tensor scores = knn_scores(features, bank, k, T);
  const int64_t B = scores.size(0), C = scores.size(1);
  const double* s = scores.data<double>();
  std::vector<int64_t> pred(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b)
    pred[size_t(b)] = int64_t(std::max_element(s + b * C, s + (b + 1) * C) - (s + b * C));
  return Tensor::from_vector(pred, {B});
}

FeatureBank extract_feature_bank(const FeatureFn& f, data::DataLoader& loader, int64_t num_classes) {
  NoGradGuard no_grad;
  std::vector<Tensor> feats, labels;
  loader.start_epoch(0);
  data::Batch batch;
  while (loader.next(batch)) {
    MOCO_CHECK(!batch.views.empty(), "kNN: the loader's batches have no image view");
    feats.push_back(f(batch.views[0]).detach());
    labels.push_back(batch.labels);
  }
  MOCO_CHECK(!feats.empty(), "kNN: the memory loader gave no batches ({})", loader.dataset().describe());
  return make_feature_bank(cat(feats, 0), cat(labels, 0), num_classes);
}

KnnResult knn_evaluate(const FeatureFn& f, data::DataLoader& memory, data::DataLoader& test, int64_t num_classes,
                       int64_t k, double T) {
  FeatureBank bank = extract_feature_bank(f, memory, num_classes);
  NoGradGuard no_grad;
  KnnResult r;
  test.start_epoch(0);
  data::Batch batch;
  while (test.next(batch)) {
    MOCO_CHECK(!batch.views.empty(), "kNN: the test loader's batches have no image view");
    Tensor feat = normalize(f(batch.views[0]).detach(), 1);
    const std::vector<int64_t> pred = knn_predict(feat, bank, k, T).to_vector<int64_t>();
    const std::vector<int64_t> target = batch.labels.to_vector<int64_t>();
    for (size_t i = 0; i < pred.size(); ++i) {
      MOCO_CHECK(target[i] >= 0, "kNN: a test sample has no label");
      r.correct += pred[i] == target[i];
    }
    r.total += int64_t(pred.size());
  }
  return r;
}

KnnResult knn_evaluate(nn::Module& model, data::DataLoader& memory, data::DataLoader& test, int64_t num_classes,
                       int64_t k, double T) {
  const bool was_training = model.is_training();
  model.eval();
  struct Restore {
    nn::Module& m;
    bool on;
    ~Restore() { m.train(on); }
  } restore{model, was_training};
  return knn_evaluate([&model](const Tensor& x) { return model.forward(x); }, memory, test, num_classes, k, T);
}

}  // namespace moco::contrastive
