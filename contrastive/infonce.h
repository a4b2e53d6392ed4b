// The contrastive losses of MoCo.
//
// v1/v2 (moco/builder.py forward): for normalised queries q [N, C], their
// positive keys k [N, C] and the queue's negatives [K, C],
//     logits = [q·k⁺ | q·queueᵀ] / T        [N, 1 + K]
//     loss   = cross_entropy(logits, 0)     (InfoNCE: a (K+1)-way classification, label 0)
//
// v3 (moco-v3 builder.py contrastive_loss): the keys are the other samples of
// the batch; q and k are normalised here,
//     logits = normalize(q)·normalize(k)ᵀ / T     [N, N]
//     ctr    = cross_entropy(logits, arange(N)) · 2T
// and the model's loss is ctr(q1, k2) + ctr(q2, k1). Data-parallel, k is
// every rank's keys (concat_all_gather, rank order) and rank r's labels are
// arange(N) + N·r: the positions of its own keys among them.
#pragma once
#include "tensor/tensor.h"

namespace moco::contrastive {

struct ContrastiveLoss {
  Tensor loss;    // scalar
  Tensor logits;  // after the division by T
  Tensor labels;  // int64 [N], on the logits' device
};

// MoCo v1/v2 InfoNCE. q, k: L2-normalised; gradients flow into q only (k and
// the negatives are treated as constants). `negatives` must not change before
// backward: pass a snapshot when the queue is updated in between (as MoCo does).
ContrastiveLoss infonce_loss(const Tensor& q, const Tensor& k, const Tensor& negatives, double T);

// MoCo v3's ctr(q, k): normalises both, logits q·kᵀ/T, labels arange(N) +
// label_offset, loss scaled by 2T. q [N, C]; k [M, C] with label_offset + N <= M
// (one process: M = N, offset 0; rank r of R: every rank's keys, M = R·N, offset N·r).
ContrastiveLoss ctr_loss(const Tensor& q, const Tensor& k, double T, int64_t label_offset = 0);

}  // namespace moco::contrastive
