// The kNN monitor of the MoCo CIFAR-10 demo (after InstDisc, Wu et al. 2018):
// features of the train set form a bank; each test feature's k nearest
// neighbours by cosine similarity vote for their labels with weight
// exp(similarity / T); the class with the largest total is the prediction.
// Defaults k = 200, T = 0.1 (--knn-k, --knn-t). Features are L2-normalised
// here; pass the raw encoder output (the demo uses encoder_q's output).
#pragma once
#include <cstdint>
#include <functional>

#include "data/loader.h"
#include "nn/module.h"

namespace moco::contrastive {

// Maps a batch of images [N, C, H, W] to features [N, D].
using FeatureFn = std::function<Tensor(const Tensor& images)>;

struct FeatureBank {
  Tensor features;  // [N, D], L2-normalised, on the device the features came from
  Tensor labels;    // int64 [N], CPU
  int64_t num_classes = 0;
};

// Labels [N] must be in [0, num_classes); features are normalised here.
FeatureBank make_feature_bank(const Tensor& features, const Tensor& labels, int64_t num_classes);

// knn_predict of the demo for normalised features [B, D]: int64 [B] top-1
// predictions (ties between classes go to the lower class index). k is
// capped at the bank size.
Tensor knn_predict(const Tensor& features, const FeatureBank& bank, int64_t k = 200, double T = 0.1);
// The class scores behind the prediction: float64 [B, num_classes], score[c] = Σ exp(sim/T) over the k neighbours of class c.
Tensor knn_scores(const Tensor& features, const FeatureBank& bank, int64_t k = 200, double T = 0.1);

// One pass over `loader` (view 0 of each batch; labels must be known) under
// no grad: the bank of the normalised features.
FeatureBank extract_feature_bank(const FeatureFn& f, data::DataLoader& loader, int64_t num_classes);

struct KnnResult {
  int64_t correct = 0, total = 0;
  double top1() const { return total > 0 ? 100.0 * double(correct) / double(total) : 0; }  // percent
};
// Top-1 of the kNN classifier over `test` with the bank built from `memory`
// (the demo's test(): memory = train set with the test transform).
KnnResult knn_evaluate(const FeatureFn& f, data::DataLoader& memory, data::DataLoader& test, int64_t num_classes,
                       int64_t k = 200, double T = 0.1);
// The same with a module: put in eval mode for the pass, then restored.
KnnResult knn_evaluate(nn::Module& model, data::DataLoader& memory, data::DataLoader& test, int64_t num_classes,
                       int64_t k = 200, double T = 0.1);

}  // namespace moco::contrastive
