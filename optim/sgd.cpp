#include "optim/sgd.h"

#include "optim/fused.h"

namespace moco::optim {

SGD::SGD(std::vector<ParamGroup> groups, const SGDConfig& cfg)
    : Optimizer(std::move(groups), cfg.lr, cfg.weight_decay), cfg_(cfg) {
  MOCO_CHECK(cfg.lr >= 0 && cfg.momentum >= 0 && cfg.weight_decay >= 0,
             "SGD: lr {}, momentum {} and weight_decay {} must be >= 0", cfg.lr, cfg.momentum, cfg.weight_decay);
  MOCO_CHECK(!cfg.nesterov || (cfg.momentum > 0 && cfg.dampening == 0),
             "SGD: Nesterov momentum needs momentum > 0 and dampening 0");
}

SGD::SGD(const std::vector<Tensor>& params, const SGDConfig& cfg) : SGD(std::vector<ParamGroup>{group_of(params)}, cfg) {}

void SGD::update(const Tensor& p, const Tensor& g, const ParamGroup& group, State& st) {
  OptimStep s;
  s.kind = OptimKind::sgd;
  s.lr = group.lr;
  s.weight_decay = group.weight_decay;
  s.momentum = cfg_.momentum;
  s.dampening = cfg_.dampening;
  s.nesterov = cfg_.nesterov;
  Tensor buf;  // no momentum: no buffer
  if (cfg_.momentum != 0) {
    auto it = st.tensors.find("momentum_buffer");
    s.first = it == st.tensors.end();  // the new buffer takes d itself
    if (s.first) it = st.tensors.emplace("momentum_buffer", Tensor::empty_like(p)).first;
    buf = it->second;
  }
  fused_step(s, p, g, buf);
}

}  // namespace moco::optim
