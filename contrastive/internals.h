// What MoCo looks like from the inside while it trains: the numbers `moco
// pretrain` logs every --log-every steps (steps.jsonl / steps.csv) and per
// epoch (metrics.jsonl / metrics.csv), under these names.
//
//   loss_chance     the loss of a model that knows nothing (uniform logits):
//                   Σ over directions of scale·ln(classes) = ln(K+1) for v1/v2
//                   (×2 with --symmetric), 2·2T·ln(B) for v3 (its two ctr terms
//                   are each scaled by 2T), so it sits on the same scale as loss.
//   inst_top1       % of queries whose positive has the largest logit (instance
//                   discrimination, first direction).
//   logit_pos_mean  mean positive logit      } as cosine similarities (logit·T),
//   logit_neg_mean  mean negative logit      } in [−1, 1], whatever T: v1/v2 the
//   logit_neg_std   std of negative logits   } queue's columns are the negatives;
//   logit_neg_max   largest negative logit   } v3 the off-diagonal of q·kᵀ
//   encoder_drift   ‖θq − θk‖ / ‖θq‖ over the parameters both encoders have:
//                   how far the key encoder lags (0: identical)
//   feature_std     mean over dimensions of the std over the batch of the
//                   normalised q: ≈ 1/√d when the features spread over the
//                   sphere, → 0 when they collapse to one point
//   alignment       mean ‖q_i − k_i‖² over positive pairs (Wang & Isola 2020,
//                   α = 2): 0 when views map to the same point; at most 4
//   uniformity      log mean_{i<j} exp(−t‖x_i − x_j‖²), t = 2, the mean of its
//                   values over q and over k: lower = more uniform on the sphere
//   queue_age_mean  mean age of the queued keys in steps (v1/v2, queue.h)
//   queue_sim_mean  mean cosine between two different queued keys (v1/v2)
//   grad_norm       global L2 norm of the query side's gradients after backward
//                   (encoder, and v3's predictor), before the optimiser step
//
// Every function works under no grad on detached values, accumulates in
// float64 on the CPU (tensors on another device are copied first) and
// changes nothing in the model.
#pragma once
#include <optional>
#include <vector>

#include "contrastive/moco.h"
#include "contrastive/queue.h"

namespace moco::contrastive {

// ln(classes)·scale: cross-entropy of uniform logits over `classes` classes.
double chance_loss(int64_t classes, double scale = 1);

// Positive and negative logits of one or more [N, C] logit matrices with
// their int64 [N] labels (the positive's column), times T: cosine similarities.
struct LogitStats {
  double pos_mean = 0, neg_mean = 0, neg_std = 0, neg_max = 0;
};
LogitStats logit_stats(const std::vector<Tensor>& logits, const std::vector<Tensor>& labels, double T);

// % of rows whose largest logit is in the label's column (ties: the first column wins, as argmax).
double instance_top1(const Tensor& logits, const Tensor& labels);

// mean_i ‖q_i − k_i‖² for q, k [N, d] (rows as given: normalise them first).
double alignment(const Tensor& q, const Tensor& k);
// log( mean over pairs i<j of exp(−t‖x_i − x_j‖²) ) for x [N, d], N ≥ 2.
double uniformity(const Tensor& x, double t = 2);
// Mean over the d columns of the sample std (N − 1) over the N rows of normalize(z).
double feature_std(const Tensor& z);

// ‖θq − θk‖ / ‖θq‖ over the parameters with the same name in both modules.
double encoder_drift(const nn::Module& query, const nn::Module& key);
// sqrt(Σ ‖grad‖²) over the parameters of `m` that have a gradient.
double grad_norm(const nn::Module& m);

double queue_age_mean(const Queue& queue);
// mean over i ≠ j of cos(k_i, k_j), in O(K·d): Σ_{i≠j} k_i·k_j = ‖Σ k_i‖² − Σ ‖k_i‖² for unit keys.
double queue_sim_mean(const Queue& queue);

// Everything above for one training step, measured after backward and before
// the optimiser step (grad_norm needs the gradients). Values that do not
// apply (the queue_* of v3) are empty.
struct Internals {
  double loss_chance = 0, inst_top1 = 0;
  LogitStats logits;
  double encoder_drift = 0, feature_std = 0, alignment = 0, uniformity = 0, grad_norm = 0;
  std::optional<double> queue_age_mean, queue_sim_mean;
};
Internals measure_internals(const MoCo& model, const MoCoOutput& out);

}  // namespace moco::contrastive
