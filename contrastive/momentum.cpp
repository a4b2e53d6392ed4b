#include "contrastive/momentum.h"

#include "autograd/engine.h"
#include "optim/fused.h"
#include "optim/schedule.h"

namespace moco::contrastive {

std::shared_ptr<nn::Module> make_momentum_encoder(const nn::Module& query) {
  std::shared_ptr<nn::Module> key = query.clone();
  key->requires_grad_(false);
  return key;
}

void momentum_update(nn::Module& key, const nn::Module& query, double m) {
  MOCO_CHECK(m >= 0 && m <= 1, "momentum_update: momentum m = {} must be in [0, 1]", m);
  const nn::NamedTensors kp = key.named_parameters(), qp = query.named_parameters();
  MOCO_CHECK(kp.size() == qp.size(), "momentum_update: the key encoder has {} parameters, the query encoder {}",
             kp.size(), qp.size());
  NoGradGuard no_grad;
  for (size_t i = 0; i < kp.size(); ++i) {
    const auto& [kn, k] = kp[i];
    const auto& [qn, q] = qp[i];
    MOCO_CHECK(kn == qn && k.shape() == q.shape() && k.dtype() == q.dtype(),
               "momentum_update: parameter {} differs: key '{}' {} {} vs query '{}' {} {}", i, kn,
               shape_str(k.shape()), dtype_name(k.dtype()), qn, shape_str(q.shape()), dtype_name(q.dtype()));
    if (k.same(q)) continue;
    ema_(k, q, m);
  }
}

void ema_(const Tensor& k, const Tensor& q, double m) {
  OptimStep s;
  s.kind = OptimKind::ema;
  s.momentum = m;
  optim::fused_step(s, k, q);
}

double MomentumSchedule::operator()(double epoch) const {
  return cosine ? optim::cosine_momentum(m0, epoch, epochs) : m0;
}

}  // namespace moco::contrastive
