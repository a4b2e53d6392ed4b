#include "nn/models/resnet.h"

#include <memory>

#include "autograd/ops.h"
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "nn/pool.h"
#include "nn/sequential.h"

namespace moco::nn {

namespace {

std::shared_ptr<Conv2d> conv3x3(int64_t in, int64_t out, int64_t stride) {
  return std::make_shared<Conv2d>(in, out, 3, stride, 1, false);
}
std::shared_ptr<Conv2d> conv1x1(int64_t in, int64_t out, int64_t stride) {
  return std::make_shared<Conv2d>(in, out, 1, stride, 0, false);
}

// The projection shortcut when the shape changes: Sequential(conv1x1, BN).
std::shared_ptr<Sequential> downsample(int64_t in, int64_t out, int64_t stride) {
  return std::make_shared<Sequential>(
      std::initializer_list<std::shared_ptr<Module>>{conv1x1(in, out, stride), std::make_shared<BatchNorm2d>(out)});
}

}  // namespace

// The `relu` children are stateless: forward code calls the relu op itself.
BasicBlock::BasicBlock(int64_t inplanes, int64_t planes, int64_t stride) {
  register_module("conv1", conv3x3(inplanes, planes, stride));
  register_module("bn1", std::make_shared<BatchNorm2d>(planes));
  register_module("relu", std::make_shared<ReLU>());
  register_module("conv2", conv3x3(planes, planes, 1));
  register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  if (stride != 1 || inplanes != planes * expansion)
    register_module("downsample", downsample(inplanes, planes * expansion, stride));
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor out = relu(child("bn1")(child("conv1")(x)));
  out = child("bn2")(child("conv2")(out));
  const Tensor identity = has_child("downsample") ? child("downsample")(x) : x;
  return relu(add(out, identity));
}

// torchvision v1.5: the stride sits on the 3x3 conv (conv2).
Bottleneck::Bottleneck(int64_t inplanes, int64_t planes, int64_t stride) {
  register_module("conv1", conv1x1(inplanes, planes, 1));
  register_module("bn1", std::make_shared<BatchNorm2d>(planes));
  register_module("conv2", conv3x3(planes, planes, stride));
  register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  register_module("conv3", conv1x1(planes, planes * expansion, 1));
  register_module("bn3", std::make_shared<BatchNorm2d>(planes * expansion));
  register_module("relu", std::make_shared<ReLU>());
  if (stride != 1 || inplanes != planes * expansion)
    register_module("downsample", downsample(inplanes, planes * expansion, stride));
}

Tensor Bottleneck::forward(const Tensor& x) {
  Tensor out = relu(child("bn1")(child("conv1")(x)));
  out = relu(child("bn2")(child("conv2")(out)));
  out = child("bn3")(child("conv3")(out));
  const Tensor identity = has_child("downsample") ? child("downsample")(x) : x;
  return relu(add(out, identity));
}

namespace {

template <class B>
std::shared_ptr<Sequential> make_layer(int64_t& inplanes, int64_t planes, int64_t blocks, int64_t stride) {
  auto seq = std::make_shared<Sequential>();
  seq->push_back(std::make_shared<B>(inplanes, planes, stride));
  inplanes = planes * B::expansion;
  for (int64_t i = 1; i < blocks; ++i) seq->push_back(std::make_shared<B>(inplanes, planes, 1));
  return seq;
}

}  // namespace

// Children, in torchvision's order: conv1, bn1, relu, maxpool, layer1-4, avgpool, fc.
ResNet::ResNet(const ResNetConfig& cfg) : cfg_(cfg) {
  std::vector<int64_t> blocks;
  bool bottleneck = false;
  switch (cfg.depth) {
    case 18: blocks = {2, 2, 2, 2}; break;
    case 34: blocks = {3, 4, 6, 3}; break;
    case 50: blocks = {3, 4, 6, 3}; bottleneck = true; break;
    default: fail("ResNet: depth must be 18, 34 or 50, got {}", cfg.depth);
  }
  MOCO_CHECK(cfg.in_channels > 0 && cfg.width > 0 && cfg.num_classes >= 0,
             "ResNet: in_channels {} and width {} must be positive, num_classes {} >= 0", cfg.in_channels, cfg.width,
             cfg.num_classes);
  const int64_t w = cfg.width;
  // Every random initialisation happens once, below (no default init first).
  auto skip = std::make_unique<init::SkipInitGuard>();
  if (cfg.small_stem)
    register_module("conv1", std::make_shared<Conv2d>(cfg.in_channels, w, 3, 1, 1, false));
  else
    register_module("conv1", std::make_shared<Conv2d>(cfg.in_channels, w, 7, 2, 3, false));
  register_module("bn1", std::make_shared<BatchNorm2d>(w));
  register_module("relu", std::make_shared<ReLU>());
  if (cfg.small_stem)
    register_module("maxpool", std::make_shared<Identity>());
  else
    register_module("maxpool", std::make_shared<MaxPool2d>(3, 2, 1));
  int64_t inplanes = w;
  for (int i = 0; i < 4; ++i) {
    const int64_t planes = w << i, stride = i == 0 ? 1 : 2;
    auto layer = bottleneck ? make_layer<Bottleneck>(inplanes, planes, blocks[size_t(i)], stride)
                            : make_layer<BasicBlock>(inplanes, planes, blocks[size_t(i)], stride);
    register_module("layer" + std::to_string(i + 1), layer);
  }
  feature_dim_ = inplanes;
  register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
  if (cfg.num_classes > 0)
    register_module("fc", std::make_shared<Linear>(feature_dim_, cfg.num_classes));
  else
    register_module("fc", std::make_shared<Identity>());
  skip.reset();

  for (auto& [name, m] : named_modules()) {
    if (auto* conv = dynamic_cast<Conv2d*>(m))
      init::kaiming_normal_(conv->weight(), 0, init::FanMode::fan_out, "relu");
    if (auto* fc = dynamic_cast<Linear*>(m)) init::default_linear_conv_(fc->weight(), fc->bias());
  }
  if (cfg.stem_default_init) init::default_linear_conv_(child_as<Conv2d>("conv1").weight(), Tensor());
  if (cfg.zero_init_residual) {  // the last BN of every residual branch
    const char* last_bn = bottleneck ? "bn3" : "bn2";
    for (const char* layer : {"layer1", "layer2", "layer3", "layer4"})
      for (auto& [index, block] : child(layer).children())
        init::zeros_(block->child_as<BatchNorm2d>(last_bn).weight());
  }
}

std::string ResNet::stem() const {
  return cfg_.small_stem ? "conv1 3x3 stride 1, no max-pool" : "conv1 7x7 stride 2, max-pool 3x3 stride 2";
}

Tensor ResNet::features(const Tensor& x) {
  MOCO_CHECK(x.dim() == 4 && x.size(1) == cfg_.in_channels, "ResNet: expected [N, {}, H, W] images, got {}",
             cfg_.in_channels, shape_str(x.shape()));
  Tensor h = relu(child("bn1")(child("conv1")(x)));
  h = child("maxpool")(h);
  for (const char* layer : {"layer1", "layer2", "layer3", "layer4"}) h = child(layer)(h);
  return child("avgpool")(h).flatten(1);
}

}  // namespace moco::nn
