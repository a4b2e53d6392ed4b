#include "contrastive/moco.h"

#include "nn/state_dict.h"

namespace moco::contrastive {

void MoCo::set_momentum(double m) {
  MOCO_CHECK(m >= 0 && m <= 1, "MoCo: momentum m = {} must be in [0, 1] (--moco-m)", m);
  m_ = m;
}

nn::NamedTensors MoCo::backbone_state_dict() const {
  nn::NamedTensors out;
  const std::string head = head_name() + ".";
  for (auto& [n, t] : query_encoder().state_dict())
    if (n.compare(0, head.size(), head) != 0) out.emplace_back(n, t);
  return out;
}

nn::NamedTensors MoCo::checkpoint_state() const { return state_dict(); }

void MoCo::load_checkpoint_state(const nn::NamedTensors& state) { load_state_dict(state, true); }

}  // namespace moco::contrastive
