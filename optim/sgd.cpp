#include "optim/sgd.h"

#include "autograd/ops.h"
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
  const double lr = group.lr, wd = group.weight_decay, mom = cfg_.momentum, damp = cfg_.dampening;
  const bool nesterov = cfg_.nesterov;
  auto it = st.tensors.find("momentum_buffer");
  const bool first = mom != 0 && it == st.tensors.end();
  if (first) it = st.tensors.emplace("momentum_buffer", Tensor::empty_like(p)).first;
  const Tensor buf = mom != 0 ? it->second : Tensor();

  if (detail::fusable({&p, &g}) && (!buf.defined() || detail::fusable({&p, &buf}))) {
    dispatch_float(p.dtype(), "SGD", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* P = p.data<T>();
      const T* G = g.data<T>();
      T* B = buf.defined() ? buf.data<T>() : nullptr;
      const T Twd = T(wd), Tmom = T(mom), Tdamp = T(1 - damp), Tlr = T(-lr);
      detail::parallel_for(p.numel(), [&](int64_t i) {
        T d = wd != 0 ? G[i] + Twd * P[i] : G[i];
        if (B) {
          B[i] = first ? d : B[i] * Tmom + Tdamp * d;
          d = nesterov ? d + Tmom * B[i] : B[i];
        }
        P[i] = P[i] + Tlr * d;
      });
    });
    return;
  }
  // Any device: composed tensor ops.
  Tensor d = wd != 0 ? add(g, mul(p, wd)) : g;
  if (buf.defined()) {
    if (first) buf.copy_(d);
    else buf.mul_(mom).add_(d, 1 - damp);
    d = nesterov ? add(d, mul(buf, mom)) : buf;
  }
  p.add_(d, -lr);
}

}  // namespace moco::optim
