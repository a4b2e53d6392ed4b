// Shuffle-BN on one device (MoCo §3.3; the official CIFAR-10 demo notebook).
//
// The keys are computed on a shuffled batch and unshuffled afterwards, and
// BatchNorm normalises over groups of the batch (SplitBatchNorm, --bn-splits)
// as each of several GPUs would: the query and its positive key then sit in
// different BN groups, so BN statistics cannot leak which key is positive.
//
// SplitBatchNorm (the demo's class): in training, the batch [N, C, H, W] is
// viewed as [N/S, C·S, H, W] and normalised with batch statistics, so group s
// holds samples n with n % S == s; each group moves its own copy of the
// running statistics, and the S copies are averaged back. In evaluation it is
// plain BatchNorm2d with the running statistics. Like the demo (which calls
// F.batch_norm), it does not count num_batches_tracked. Tensor names are
// those of BatchNorm2d, so checkpoints load into torchvision unchanged.
#pragma once
#include <cstdint>

#include "nn/batchnorm.h"
#include "tensor/random.h"

namespace moco::contrastive {

// A shuffle of a batch and its inverse (builder.py _batch_shuffle_single_gpu):
// x[forward] is the shuffled batch, y[backward] undoes it (backward = argsort(forward)).
struct BatchShuffle {
  Tensor forward, backward;  // int64 [N]
};
// A random permutation of n drawn from `gen` (the shuffle generator), on `device`.
BatchShuffle random_batch_shuffle(int64_t n, Generator& gen, Device device = {});
// A given permutation (int64 [n], every index once); throws otherwise.
BatchShuffle batch_shuffle_from(const Tensor& idx_shuffle, Device device = {});
// Rows of x (dim 0) in shuffled order, and back.
Tensor shuffle_batch(const Tensor& x, const BatchShuffle& s);
Tensor unshuffle_batch(const Tensor& x, const BatchShuffle& s);

class SplitBatchNorm : public nn::BatchNorm2d {
 public:
  SplitBatchNorm(int64_t num_features, int64_t num_splits, const nn::BatchNormConfig& cfg = {});
  // Takes over `bn`'s tensors (shared, not copied) and configuration.
  SplitBatchNorm(const nn::BatchNorm2d& bn, int64_t num_splits);
  std::string type_name() const override { return "SplitBatchNorm"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<nn::Module> clone() const override;
  int64_t num_splits() const { return splits_; }

 private:
  int64_t splits_;
};

// Replaces every BatchNorm2d below `root` by a SplitBatchNorm with `num_splits`
// groups that keeps its tensors (the demo's norm_layer = SplitBatchNorm when
// --bn-splits > 1). Returns how many were replaced; num_splits 1 replaces none.
int64_t use_split_batch_norm(nn::Module& root, int64_t num_splits);

}  // namespace moco::contrastive
