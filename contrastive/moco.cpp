#include "contrastive/moco.h"

#include "nn/models/resnet.h"
#include "nn/models/vit.h"
#include "nn/state_dict.h"

namespace moco::contrastive {

void MoCo::set_momentum(double m) {
  MOCO_CHECK(m >= 0 && m <= 1, "MoCo: momentum m = {} must be in [0, 1] (--moco-m)", m);
  m_ = m;
}

nn::NamedTensors MoCo::backbone_state_dict() const {
  nn::NamedTensors out;
  const std::string head = head_name_ + ".";
  for (auto& [n, t] : query_encoder().state_dict())
    if (n.compare(0, head.size(), head) != 0) out.emplace_back(n, t);
  return out;
}

nn::NamedTensors MoCo::checkpoint_state() const { return state_dict(); }

void MoCo::load_checkpoint_state(const nn::NamedTensors& state) { load_state_dict(state, true); }

int64_t backbone_feature_dim(const nn::Module& m) {
  if (auto* r = dynamic_cast<const nn::ResNet*>(&m)) return r->feature_dim();
  if (auto* v = dynamic_cast<const nn::VisionTransformer*>(&m)) return v->feature_dim();
  fail("MoCo: the backbone must be a ResNet or a VisionTransformer, got {}", m.type_name());
}

std::string backbone_head_name(const nn::Module& m) {
  if (dynamic_cast<const nn::ResNet*>(&m)) return "fc";
  if (dynamic_cast<const nn::VisionTransformer*>(&m)) return "head";
  fail("MoCo: the backbone must be a ResNet or a VisionTransformer, got {}", m.type_name());
}

}  // namespace moco::contrastive
