#include "nn/batchnorm.h"

#include <fmt/format.h>

#include <algorithm>

#include "autograd/engine.h"
#include "autograd/ops.h"

namespace moco::nn {

BatchNorm::BatchNorm(int64_t num_features, const BatchNormConfig& cfg, std::vector<int64_t> input_dims)
    : c_(num_features), cfg_(cfg), input_dims_(std::move(input_dims)) {
  MOCO_CHECK(num_features > 0, "BatchNorm: num_features must be positive, got {}", num_features);
  if (cfg.affine) {
    register_parameter("weight", Tensor::ones({c_}));
    register_parameter("bias", Tensor::zeros({c_}));
  }
  if (cfg.track_running_stats) {
    register_buffer("running_mean", Tensor::zeros({c_}));
    register_buffer("running_var", Tensor::ones({c_}));
    register_buffer("num_batches_tracked", Tensor::zeros({}, DType::i64));
  }
}

std::string BatchNorm::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, affine={}, track_running_stats={}", c_, cfg_.eps, cfg_.momentum,
                     cfg_.affine ? "True" : "False", cfg_.track_running_stats ? "True" : "False");
}

void BatchNorm::check_input(const Tensor& x) const {
  MOCO_CHECK(std::find(input_dims_.begin(), input_dims_.end(), x.dim()) != input_dims_.end(),
             "{}: expected a {}-D input, got {}", type_name(), fmt::join(input_dims_, "- or "), shape_str(x.shape()));
  MOCO_CHECK(x.size(1) == c_, "{}({}): input {} has {} channels", type_name(), c_, shape_str(x.shape()), x.size(1));
}

Tensor BatchNorm::forward(const Tensor& x) {
  check_input(x);
  const bool use_batch_stats = is_training() || !cfg_.track_running_stats;
  if (is_training() && cfg_.track_running_stats) {
    const Tensor& n = buffer(2);
    n.fill_(n.item() + 1);
  }
  // In training the op updates the running statistics in place.
  return batch_norm(x, running_mean(), running_var(), weight(), bias(), use_batch_stats, cfg_.momentum, cfg_.eps);
}

std::shared_ptr<Module> BatchNorm1d::clone() const {
  auto m = std::make_shared<BatchNorm1d>(*this);
  m->make_deep();
  return m;
}

std::shared_ptr<Module> BatchNorm2d::clone() const {
  auto m = std::make_shared<BatchNorm2d>(*this);
  m->make_deep();
  return m;
}

}  // namespace moco::nn
