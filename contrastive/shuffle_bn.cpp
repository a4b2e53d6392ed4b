#include "contrastive/shuffle_bn.h"

#include <fmt/format.h>

#include <vector>

#include "autograd/engine.h"
#include "autograd/ops.h"

namespace moco::contrastive {

namespace {

BatchShuffle from_host(const std::vector<int64_t>& perm, Device device) {
  const int64_t n = int64_t(perm.size());
  std::vector<int64_t> inv(perm.size(), -1);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t p = perm[size_t(i)];
    MOCO_CHECK(p >= 0 && p < n && inv[size_t(p)] < 0,
               "batch shuffle: index {} at position {} is out of range or repeated; expected a permutation of 0..{}", p,
               i, n - 1);
    inv[size_t(p)] = i;
  }
  return {Tensor::from_vector(perm, {n}, device), Tensor::from_vector(inv, {n}, device)};
}

}  // namespace

BatchShuffle random_batch_shuffle(int64_t n, Generator& gen, Device device) {
  MOCO_CHECK(n > 0, "batch shuffle: batch size must be positive, got {}", n);
  return from_host(randperm(n, gen).to_vector<int64_t>(), device);
}

BatchShuffle batch_shuffle_from(const Tensor& idx_shuffle, Device device) {
  MOCO_CHECK(idx_shuffle.dim() == 1 && idx_shuffle.dtype() == DType::i64,
             "batch shuffle: expected an int64 [N] permutation, got {} {}", shape_str(idx_shuffle.shape()),
             dtype_name(idx_shuffle.dtype()));
  return from_host(idx_shuffle.to_vector<int64_t>(), device);
}

Tensor shuffle_batch(const Tensor& x, const BatchShuffle& s) {
  MOCO_CHECK(x.dim() >= 1 && x.size(0) == s.forward.numel(), "shuffle_batch: batch {} vs a shuffle of {}",
             shape_str(x.shape()), s.forward.numel());
  return index_select(x, 0, s.forward.device() == x.device() ? s.forward : s.forward.to(x.device()));
}

Tensor unshuffle_batch(const Tensor& x, const BatchShuffle& s) {
  MOCO_CHECK(x.dim() >= 1 && x.size(0) == s.backward.numel(), "unshuffle_batch: batch {} vs a shuffle of {}",
             shape_str(x.shape()), s.backward.numel());
  return index_select(x, 0, s.backward.device() == x.device() ? s.backward : s.backward.to(x.device()));
}

// ---------------------------------------------------------------- SplitBatchNorm

SplitBatchNorm::SplitBatchNorm(int64_t num_features, int64_t num_splits, const nn::BatchNormConfig& cfg)
    : nn::BatchNorm2d(num_features, cfg), splits_(num_splits) {
  MOCO_CHECK(num_splits >= 1, "SplitBatchNorm: num_splits must be >= 1, got {}", num_splits);
}

SplitBatchNorm::SplitBatchNorm(const nn::BatchNorm2d& bn, int64_t num_splits)
    : nn::BatchNorm2d(bn), splits_(num_splits) {
  MOCO_CHECK(num_splits >= 1, "SplitBatchNorm: num_splits must be >= 1, got {}", num_splits);
}

std::string SplitBatchNorm::extra_repr() const {
  return fmt::format("{}, num_splits={}", nn::BatchNorm2d::extra_repr(), splits_);
}

std::shared_ptr<nn::Module> SplitBatchNorm::clone() const {
  auto m = std::make_shared<SplitBatchNorm>(*this);
  m->make_deep();
  return m;
}

namespace {

// S copies of a [C] tensor, one after the other: [C·S] (torch's t.repeat(S)).
Tensor repeat_1d(const Tensor& t, int64_t S) {
  if (!t.defined()) return t;
  return cat(std::vector<Tensor>(size_t(S), t), 0);
}

}  // namespace

Tensor SplitBatchNorm::forward(const Tensor& x) {
  const nn::BatchNormConfig& cfg = config();
  const bool track = cfg.track_running_stats;
  if (!is_training() && track)
    return batch_norm(x, running_mean(), running_var(), weight(), bias(), false, cfg.momentum, cfg.eps);
  MOCO_CHECK(x.dim() == 4 && x.size(1) == num_features(), "SplitBatchNorm({}): expected [N, {}, H, W], got {}",
             num_features(), num_features(), shape_str(x.shape()));
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), S = splits_;
  MOCO_CHECK(N % S == 0,
             "SplitBatchNorm: batch size {} is not a multiple of num_splits {} (--bn-splits); every BN group needs "
             "the same number of samples",
             N, S);
  Tensor rm, rv;
  if (track) {
    NoGradGuard no_grad;
    rm = repeat_1d(running_mean(), S);
    rv = repeat_1d(running_var(), S);
  }
  Tensor y = batch_norm(x.reshape({N / S, C * S, H, W}), rm, rv, repeat_1d(weight(), S), repeat_1d(bias(), S), true,
                        cfg.momentum, cfg.eps)
                 .reshape({N, C, H, W});
  if (track) {
    NoGradGuard no_grad;
    running_mean().copy_(mean(rm.view({S, C}), {0}));
    running_var().copy_(mean(rv.view({S, C}), {0}));
  }
  return y;
}

int64_t use_split_batch_norm(nn::Module& root, int64_t num_splits) {
  MOCO_CHECK(num_splits >= 1, "use_split_batch_norm: num_splits (--bn-splits) must be >= 1, got {}", num_splits);
  if (num_splits == 1) return 0;
  // Collect first: replacing a child destroys it, and named_modules() lists raw pointers.
  std::vector<std::pair<nn::Module*, std::string>> targets;
  for (auto& [path, m] : root.named_modules())
    for (auto& [name, child] : m->children())
      if (dynamic_cast<nn::BatchNorm2d*>(child.get()) && !dynamic_cast<SplitBatchNorm*>(child.get()))
        targets.emplace_back(m, name);
  int64_t replaced = 0;
  for (auto& [parent, name] : targets) {
    auto& bn = dynamic_cast<nn::BatchNorm2d&>(parent->child(name));
    parent->replace_child(name, std::make_shared<SplitBatchNorm>(bn, num_splits));
    ++replaced;
  }
  return replaced;
}

}  // namespace moco::contrastive
