#include "optim/fused.h"

#include "autograd/engine.h"
#include "tensor/backend.h"

namespace moco::optim {

void fused_step(const OptimStep& s, const Tensor& p, const Tensor& g, const Tensor& s1, const Tensor& s2) {
  MOCO_CHECK(is_floating(p.dtype()), "optimiser step: the parameter has dtype {}; only floating tensors update",
             dtype_name(p.dtype()));
  auto check = [&](const Tensor& t, const char* what, bool same_dtype) {
    if (!t.defined()) return;
    MOCO_CHECK(t.shape() == p.shape() && t.device() == p.device() && (!same_dtype || t.dtype() == p.dtype()),
               "optimiser step: the {} is {} {} on {}, the parameter {} {} on {}", what, shape_str(t.shape()),
               dtype_name(t.dtype()), t.device().str(), shape_str(p.shape()), dtype_name(p.dtype()),
               p.device().str());
  };
  check(g, "gradient", false);
  check(s1, "state", true);
  check(s2, "state", true);
  NoGradGuard no_grad;
  // The backends take contiguous tensors; a strided one is updated through a copy.
  auto dense = [](const Tensor& t) { return t.defined() ? t.contiguous() : t; };
  const Tensor P = dense(p), S1 = dense(s1), S2 = dense(s2);
  backend_for(p).optim_step(s, P, g.to(p.dtype()).contiguous(), S1, S2);
  if (!P.same(p)) p.copy_(P);
  if (!S1.same(s1)) s1.copy_(S1);
  if (!S2.same(s2)) s2.copy_(S2);
}

}  // namespace moco::optim
