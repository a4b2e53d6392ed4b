#include "nn/models/backbone.h"

namespace moco::nn {

namespace {
[[noreturn]] void not_a_backbone(const std::string& type, const std::string& context) {
  fail("{}the backbone must be a ResNet or a VisionTransformer (an nn::Backbone), got {}",
       context.empty() ? "" : context + ": ", type);
}
}  // namespace

Backbone& as_backbone(Module& m, const std::string& context) {
  if (auto* b = dynamic_cast<Backbone*>(&m)) return *b;
  not_a_backbone("a " + m.type_name(), context);
}

const Backbone& as_backbone(const Module& m, const std::string& context) {
  if (auto* b = dynamic_cast<const Backbone*>(&m)) return *b;
  not_a_backbone("a " + m.type_name(), context);
}

std::shared_ptr<Backbone> as_backbone(const std::shared_ptr<Module>& m, const std::string& context) {
  if (!m) not_a_backbone("none (null)", context);
  return std::shared_ptr<Backbone>(m, &as_backbone(*m, context));
}

}  // namespace moco::nn
