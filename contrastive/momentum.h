// The momentum (key) encoder of MoCo: a copy of the query encoder that learns
// only through an exponential moving average,
//     θk ← m·θk + (1 − m)·θq,
// applied with no grad before every key forward (moco/builder.py
// _momentum_update_key_encoder; moco-v3 _update_momentum_encoder).
//
// Exactly as the official code: the average runs over parameters only
// (including those that do not require grad, such as a ViT's fixed position
// embedding or a frozen patch projection). Buffers are not averaged and not
// copied: the key encoder's BatchNorm running statistics are its own, moved
// by its own forward passes in training mode.
#pragma once
#include <memory>

#include "nn/module.h"

namespace moco::contrastive {

// A deep copy of `query` (parameters and buffers) whose parameters do not
// require grad: the official initialisation (param_k.copy_(param_q),
// requires_grad = False; buffers start equal too, as freshly built ones are).
std::shared_ptr<nn::Module> make_momentum_encoder(const nn::Module& query);

// θk ← m·θk + (1 − m)·θq for every parameter, matched by position; throws
// when the two modules' parameter names or shapes differ. No grad is recorded.
void momentum_update(nn::Module& key, const nn::Module& query, double m);

// k ← m·k + (1 − m)·q on one tensor, in place, on any device: the EMA
// formula of tensor/optim_step.h, run by optim::fused_step.
void ema_(const Tensor& k, const Tensor& q, double m);

// The momentum at a (fractional) epoch: constant m0 (v1/v2, and v3 without
// --moco-m-cos), or MoCo v3's cosine increase from m0 to 1 over `epochs`:
//     m = 1 − ½(1 + cos(π·epoch/epochs))·(1 − m0)      (per iteration, epoch + i/iters)
struct MomentumSchedule {
  double m0 = 0.99;
  bool cosine = false;
  double epochs = 1;
  double operator()(double epoch) const;
};

}  // namespace moco::contrastive
