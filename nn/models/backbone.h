// Backbone: what MoCo, the linear probe and the kNN monitor need from an
// image encoder, whichever family it is (ResNet, VisionTransformer):
//
//   features(x)    the pooled features before the head, [N, feature_dim()]
//   head_name()    the child that maps them to outputs: "fc" (torchvision's
//                  ResNet) or "head" (timm's ViT); MoCo replaces it by its
//                  projection head, a linear probe by a fresh Linear
//   family()       "resnet" or "vit": MoCo v3 picks its projector by it
//   stem()         the input stem in words, for printing a model
//
// forward(x) is head(features(x)), for every backbone.
#pragma once
#include <memory>
#include <string>

#include "nn/module.h"

namespace moco::nn {

class Backbone : public Module {
 public:
  Tensor forward(const Tensor& x) override { return head()(features(x)); }
  virtual Tensor features(const Tensor& x) = 0;
  virtual int64_t feature_dim() const = 0;
  virtual std::string head_name() const = 0;
  Module& head() const { return child(head_name()); }
  virtual std::string family() const = 0;
  virtual std::string stem() const = 0;

 protected:
  Backbone() = default;
  Backbone(const Backbone&) = default;
  Backbone& operator=(const Backbone&) = default;
};

// `m` as a Backbone; throws naming its type when it is none (a Sequential, a
// MoCo model...), the message starting with `context` ("MoCo") when given.
Backbone& as_backbone(Module& m, const std::string& context = "");
const Backbone& as_backbone(const Module& m, const std::string& context = "");
std::shared_ptr<Backbone> as_backbone(const std::shared_ptr<Module>& m, const std::string& context = "");

}  // namespace moco::nn
