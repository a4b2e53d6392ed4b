// MoCo v3 (moco-v3/moco/builder.py: MoCo, MoCo_ResNet, MoCo_ViT).
//
// base_encoder = the backbone with its head replaced by the projector;
// momentum_encoder = its momentum copy; predictor on the query side only.
// MLPs are _build_mlp: Linear (no bias) → BN1d → ReLU per hidden layer, the
// last Linear followed by BatchNorm1d without affine when last_bn:
//     ResNet: projector 2 layers (d → mlp_dim → dim), predictor 2 layers, no last BN
//     ViT:    projector 3 layers (d → mlp_dim → mlp_dim → dim), predictor 2 layers with last BN
// forward_views(x1, x2):
//     q1 = predictor(base_encoder(x1)), q2 = predictor(base_encoder(x2))
//     no grad: θk ← m·θk + (1−m)·θq; k1 = momentum_encoder(x1), k2 = momentum_encoder(x2)
//     loss = ctr(q1, k2) + ctr(q2, k1),  ctr = CE(q·kᵀ/T, arange(N))·2T  (infonce.h)
// Data-parallel (main_moco.py under DDP, set_process_group): each rank
// forwards its slice of the global batch; in ctr the keys are every rank's
// (concat_all_gather: rank order, no gradient through the gather) and rank
// r's labels arange(N) + N·r. The mean over a rank's N queries, averaged
// over the ranks by DDP, is the one-process loss over the global batch —
// with BatchNorm over the global batch too (nn/sync_batchnorm.h, --sync-bn),
// which the official code always converts to under DDP.
// Recipes (moco-v3 CONFIG.md): dim 256, mlp_dim 4096, m 0.99 (cosine to 1 with
// --moco-m-cos); ResNet T 1.0 with LARS, ViT T 0.2 with AdamW; ResNet built
// with zero_init_residual, ViT with stop_grad_conv1 (a ViTConfig option).
#pragma once
#include "contrastive/infonce.h"
#include "contrastive/moco.h"
#include "tensor/process_group.h"

namespace moco::contrastive {

struct MoCoV3Config {
  int64_t dim = 256;       // --moco-dim
  int64_t mlp_dim = 4096;  // --moco-mlp-dim
  double m = 0.99;         // --moco-m (the cosine schedule's start with --moco-m-cos)
  double T = 1.0;          // --moco-t
  // 0: as the official code (ResNet 2, ViT 3 projector layers). The predictor
  // has a last BN for ViT, none for ResNet unless predictor_last_bn says so.
  int64_t projector_layers = 0;
  enum class LastBN { automatic, on, off } predictor_last_bn = LastBN::automatic;
};

class MoCoV3 : public MoCo {
 public:
  // `backbone`: an nn::Backbone, a ResNet or VisionTransformer (its head is
  // replaced); anything else is refused.
  MoCoV3(std::shared_ptr<nn::Module> backbone, const MoCoV3Config& cfg);
  std::string type_name() const override { return "MoCo"; }
  std::string version() const override { return "v3"; }
  std::shared_ptr<nn::Module> clone() const override;

  // Uses momentum(): set it per iteration with set_momentum(schedule(...)).
  MoCoOutput forward_views(const Tensor& x1, const Tensor& x2) override;
  // builder.py's forward(x1, x2, m).
  MoCoOutput forward_views(const Tensor& x1, const Tensor& x2, double m);

  nn::Backbone& query_encoder() const override { return encoder("base_encoder"); }
  nn::Backbone& key_encoder() const override { return encoder("momentum_encoder"); }
  nn::Module& predictor() const { return child("predictor"); }
  const MoCoV3Config& config() const { return cfg_; }
  // Data-parallel: the keys of every rank of `g` are the negatives. Null (the default): one process.
  void set_process_group(ProcessGroup* g) { group_ = g; }

 private:
  // ctr(q, k) with k gathered from every rank when data-parallel.
  ContrastiveLoss ctr(const Tensor& q, const Tensor& k) const;

  MoCoV3Config cfg_;
  ProcessGroup* group_ = nullptr;
};

}  // namespace moco::contrastive
