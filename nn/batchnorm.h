// Batch normalisation (torch.nn.BatchNorm1d / BatchNorm2d). Parameters
// weight/bias when affine; buffers running_mean, running_var and
// num_batches_tracked (int64, as in torchvision state dicts) when
// track_running_stats. Training normalises with batch statistics and updates
// the running ones; evaluation uses the running ones (or batch statistics
// when there are none, as PyTorch does).
#pragma once
#include "nn/module.h"

namespace moco::nn {

struct BatchNormConfig {
  double eps = 1e-5;
  double momentum = 0.1;
  bool affine = true;
  bool track_running_stats = true;
};

class BatchNorm : public Module {
 public:
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override;

  int64_t num_features() const { return c_; }
  const BatchNormConfig& config() const { return cfg_; }
  Tensor weight() const { return cfg_.affine ? param(0) : Tensor(); }
  Tensor bias() const { return cfg_.affine ? param(1) : Tensor(); }
  Tensor running_mean() const { return cfg_.track_running_stats ? buffer(0) : Tensor(); }
  Tensor running_var() const { return cfg_.track_running_stats ? buffer(1) : Tensor(); }
  Tensor num_batches_tracked() const { return cfg_.track_running_stats ? buffer(2) : Tensor(); }

 protected:
  BatchNorm(int64_t num_features, const BatchNormConfig& cfg, std::vector<int64_t> input_dims);
  // Throws unless `x` has an accepted rank and num_features channels.
  void check_input(const Tensor& x) const;

 private:
  int64_t c_;
  BatchNormConfig cfg_;
  std::vector<int64_t> input_dims_;  // accepted input ranks
};

// Inputs [N, C] or [N, C, L].
class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t num_features, const BatchNormConfig& cfg = {}) : BatchNorm(num_features, cfg, {2, 3}) {}
  std::string type_name() const override { return "BatchNorm1d"; }
  std::shared_ptr<Module> clone() const override;
};

// Inputs [N, C, H, W].
class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t num_features, const BatchNormConfig& cfg = {}) : BatchNorm(num_features, cfg, {4}) {}
  std::string type_name() const override { return "BatchNorm2d"; }
  std::shared_ptr<Module> clone() const override;
};

}  // namespace moco::nn
