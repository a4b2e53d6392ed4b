// ResNet-18/34/50 with torchvision's structure and tensor names
// (conv1, bn1, layer1.0.conv1, layer2.0.downsample.0, fc, ...), so state dicts
// load into torchvision.models.resnetXX() unchanged.
//
// Options beyond torchvision: in_channels (1 for Fashion-MNIST), the
// small-image stem of the MoCo CIFAR recipe (conv1 3×3 stride 1, no max-pool),
// a base width other than 64 (16/32 for fast CPU runs) and a feature-only
// mode (num_classes = 0: fc is an Identity and forward returns the pooled
// features). Initialisation as torchvision: kaiming-normal (fan_out, ReLU)
// convolutions, BN weight 1 bias 0, default Linear; zero_init_residual sets
// the last BN weight of each residual branch to 0.
#pragma once
#include "nn/models/backbone.h"

namespace moco::nn {

struct ResNetConfig {
  int depth = 18;               // 18, 34 or 50
  int64_t in_channels = 3;
  bool small_stem = false;      // 3x3 stride-1 conv1 and no max-pool (28-64 px images)
  int64_t width = 64;           // channels of layer1; layers 2-4 double it each time
  int64_t num_classes = 1000;   // 0: feature-only (fc = Identity)
  bool zero_init_residual = false;
  // conv1 keeps PyTorch's default Conv2d init (kaiming-uniform with a = sqrt(5):
  // std 0.111 for 3x3x3) instead of kaiming-normal: the CIFAR-10 demo builds
  // torchvision's ResNet, then swaps in a new 3x3 conv1 that no init loop sees.
  bool stem_default_init = false;
};

class BasicBlock : public Cloneable<BasicBlock> {
 public:
  static constexpr int64_t expansion = 1;
  BasicBlock(int64_t inplanes, int64_t planes, int64_t stride);
  std::string type_name() const override { return "BasicBlock"; }
  Tensor forward(const Tensor& x) override;
};

class Bottleneck : public Cloneable<Bottleneck> {
 public:
  static constexpr int64_t expansion = 4;
  Bottleneck(int64_t inplanes, int64_t planes, int64_t stride);
  std::string type_name() const override { return "Bottleneck"; }
  Tensor forward(const Tensor& x) override;
};

// A Backbone (nn/models/backbone.h): forward(x) = fc(features(x)).
class ResNet : public Cloneable<ResNet, Backbone> {
 public:
  explicit ResNet(const ResNetConfig& cfg);
  std::string type_name() const override { return "ResNet"; }
  // The pooled features before fc: [N, feature_dim()].
  Tensor features(const Tensor& x) override;
  int64_t feature_dim() const override { return feature_dim_; }
  std::string head_name() const override { return "fc"; }
  std::string family() const override { return "resnet"; }
  // "conv1 7x7 stride 2, max-pool 3x3 stride 2" or "conv1 3x3 stride 1, no max-pool" (small_stem).
  std::string stem() const override;
  const ResNetConfig& config() const { return cfg_; }

 private:
  ResNetConfig cfg_;
  int64_t feature_dim_;
};

inline std::shared_ptr<ResNet> resnet(int depth, ResNetConfig cfg = {}) {
  cfg.depth = depth;
  return std::make_shared<ResNet>(cfg);
}

}  // namespace moco::nn
