#include "nn/mlp.h"

#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/linear.h"

namespace moco::nn {

Mlp::Mlp(int64_t in_features, int64_t hidden_features, int64_t out_features) {
  register_module("fc1", std::make_shared<Linear>(in_features, hidden_features));
  register_module("act", std::make_shared<GELU>());
  register_module("fc2", std::make_shared<Linear>(hidden_features, out_features > 0 ? out_features : in_features));
}

Tensor Mlp::forward(const Tensor& x) { return child("fc2")(child("act")(child("fc1")(x))); }

std::shared_ptr<Sequential> build_mlp(const MlpConfig& cfg) {
  MOCO_CHECK(cfg.dims.size() >= 2, "build_mlp: need at least input and output dims, got {}", cfg.dims.size());
  auto seq = std::make_shared<Sequential>();
  const size_t layers = cfg.dims.size() - 1;
  for (size_t l = 0; l < layers; ++l) {
    seq->push_back(std::make_shared<Linear>(cfg.dims[l], cfg.dims[l + 1], cfg.bias));
    if (l + 1 < layers) {
      if (cfg.batch_norm) seq->push_back(std::make_shared<BatchNorm1d>(cfg.dims[l + 1]));
      seq->push_back(std::make_shared<ReLU>());
    } else if (cfg.last_batch_norm) {
      BatchNormConfig bn;
      bn.affine = cfg.last_batch_norm_affine;
      seq->push_back(std::make_shared<BatchNorm1d>(cfg.dims[l + 1], bn));
    }
  }
  return seq;
}

std::shared_ptr<Sequential> build_mlp_v3(int64_t num_layers, int64_t input_dim, int64_t mlp_dim, int64_t output_dim,
                                         bool last_bn) {
  MOCO_CHECK(num_layers >= 1, "build_mlp_v3: num_layers must be >= 1, got {}", num_layers);
  MlpConfig cfg;
  cfg.dims.push_back(input_dim);
  for (int64_t l = 0; l + 1 < num_layers; ++l) cfg.dims.push_back(mlp_dim);
  cfg.dims.push_back(output_dim);
  cfg.bias = false;
  cfg.batch_norm = true;
  cfg.last_batch_norm = last_bn;
  cfg.last_batch_norm_affine = false;
  return build_mlp(cfg);
}

}  // namespace moco::nn
