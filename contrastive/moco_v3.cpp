#include "contrastive/moco_v3.h"

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "contrastive/momentum.h"
#include "nn/mlp.h"

namespace moco::contrastive {

MoCoV3::MoCoV3(std::shared_ptr<nn::Module> backbone_module, const MoCoV3Config& cfg) : cfg_(cfg) {
  MOCO_CHECK(cfg.dim > 0 && cfg.mlp_dim > 0, "MoCo v3: --moco-dim {} and --moco-mlp-dim {} must be positive", cfg.dim,
             cfg.mlp_dim);
  MOCO_CHECK(cfg.T > 0, "MoCo v3: temperature --moco-t must be positive, got {}", cfg.T);
  MOCO_CHECK(cfg.projector_layers >= 0, "MoCo v3: projector_layers must be >= 0, got {}", cfg.projector_layers);
  set_momentum(cfg.m);
  const std::shared_ptr<nn::Backbone> backbone = nn::as_backbone(backbone_module, "MoCo v3");
  // builder.py: MoCo_ViT builds a 3-layer projector and a predictor with a last BN, MoCo_ResNet neither.
  const bool vit = backbone->family() == "vit";
  const int64_t d = backbone->feature_dim();
  const int64_t layers = cfg.projector_layers > 0 ? cfg.projector_layers : (vit ? 3 : 2);
  const bool pred_last_bn = cfg.predictor_last_bn == MoCoV3Config::LastBN::automatic
                                ? vit
                                : cfg.predictor_last_bn == MoCoV3Config::LastBN::on;
  backbone->replace_child(backbone->head_name(), nn::build_mlp_v3(layers, d, cfg.mlp_dim, cfg.dim, true));
  register_module("base_encoder", backbone);
  register_module("momentum_encoder", make_momentum_encoder(*backbone));
  register_module("predictor", nn::build_mlp_v3(2, cfg.dim, cfg.mlp_dim, cfg.dim, pred_last_bn));
}

std::shared_ptr<nn::Module> MoCoV3::clone() const {
  auto m = std::make_shared<MoCoV3>(*this);
  m->make_deep();
  return m;
}

ContrastiveLoss MoCoV3::ctr(const Tensor& q, const Tensor& k) const {
  if (!group_ || group_->size() == 1) return ctr_loss(q, k, cfg_.T);
  Tensor all;
  {
    NoGradGuard no_grad;  // concat_all_gather: the other ranks' keys are constants here
    all = all_gather_any_device(*group_, k.detach());
  }
  return ctr_loss(q, all, cfg_.T, q.size(0) * group_->rank());
}

MoCoOutput MoCoV3::forward_views(const Tensor& x1, const Tensor& x2) { return forward_views(x1, x2, m_); }

MoCoOutput MoCoV3::forward_views(const Tensor& x1, const Tensor& x2, double m) {
  MOCO_CHECK(x1.dim() >= 1 && x1.shape() == x2.shape(), "MoCo v3: the two views differ in shape: {} and {}",
             shape_str(x1.shape()), shape_str(x2.shape()));
  Tensor q1 = predictor().forward(query_encoder().forward(x1));
  Tensor q2 = predictor().forward(query_encoder().forward(x2));
  Tensor k1, k2;
  {
    NoGradGuard no_grad;
    momentum_update(key_encoder(), query_encoder(), m);
    k1 = key_encoder().forward(x1);
    k2 = key_encoder().forward(x2);
  }
  ContrastiveLoss l1 = ctr(q1, k2), l2 = ctr(q2, k1);
  MoCoOutput out;
  out.loss = add(l1.loss, l2.loss);
  out.logits = {l1.logits, l2.logits};
  out.labels = {l1.labels, l2.labels};
  {
    NoGradGuard no_grad;
    out.q = {normalize(q1.detach(), 1), normalize(q2.detach(), 1)};
    out.k = {normalize(k2, 1), normalize(k1, 1)};
  }
  out.T = cfg_.T;
  out.loss_scale = 2 * cfg_.T;
  return out;
}

}  // namespace moco::contrastive
