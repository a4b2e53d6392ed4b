// fused_step: the one way the optimisers (SGD, AdamW, LARS) and MoCo's
// momentum encoder (contrastive/momentum.h) update a tensor. The formulas are
// written once, in tensor/optim_step.h; each backend runs them in one pass
// (Backend::optim_step: an OpenMP loop on the CPU, a kernel on the GPU).
//
// p is updated in place from g; s1 and s2 are the state tensors the formula
// keeps (SGD: the momentum buffer or nothing; AdamW: exp_avg, exp_avg_sq;
// LARS: mu; EMA: none). All must have p's shape and device; g is cast to p's
// dtype if it differs. Strided views are updated through contiguous copies.
#pragma once
#include "tensor/optim_step.h"
#include "tensor/tensor.h"

namespace moco::optim {

void fused_step(const OptimStep& s, const Tensor& p, const Tensor& g, const Tensor& s1 = Tensor(),
                const Tensor& s2 = Tensor());

}  // namespace moco::optim
