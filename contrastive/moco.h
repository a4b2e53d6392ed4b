// What MoCo v1/v2 (moco_v2.h) and v3 (moco_v3.h) share: the model interface
// the command line drives. The backbones are nn::Backbone (nn/models/backbone.h):
// a ResNet or a VisionTransformer.
//
// A MoCo model is an nn::Module whose children are the official ones, so its
// state_dict() has builder.py's names ("encoder_q.conv1.weight", ...;
// "base_encoder.head.0.weight", ...). One training step:
//
//   model.set_momentum(schedule(epoch + i / iters));   // v3 --moco-m-cos; else constant
//   MoCoOutput out = model.forward_views(x1, x2);       // EMA update, keys, loss, enqueue
//   optimizer.zero_grad(); out.loss.backward(); optimizer.step();
//
// Optimise model.named_parameters() with trainable_only (the key encoder's
// parameters do not require grad).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/models/backbone.h"

namespace moco::contrastive {

struct MoCoOutput {
  Tensor loss;                 // scalar: backpropagate it into the query side
  std::vector<Tensor> logits;  // v1/v2: [N, 1+K] (two with the symmetric loss); v3: two [N, N]
  std::vector<Tensor> labels;  // int64 [N], one per logits
  // One positive pair per logits, L2-normalised and detached, for measuring
  // (contrastive/internals.h): v1/v2 q and its key k; v3 (q1, k2) and (q2, k1),
  // q after the predictor.
  std::vector<Tensor> q, k;
  double T = 1;           // logits = cosine similarity / T
  double loss_scale = 1;  // each direction's cross-entropy is multiplied by this (v3: 2T)
};

class MoCo : public nn::Module {
 public:
  // One training forward on two views of the same images (see above). The
  // key encoder is updated with momentum() first; v1/v2 enqueue the keys.
  virtual MoCoOutput forward_views(const Tensor& x1, const Tensor& x2) = 0;
  // The query encoder's output (backbone + head) for images: what the CIFAR
  // demo's kNN monitor uses as features.
  Tensor forward(const Tensor& x) override { return query_encoder().forward(x); }

  virtual std::string version() const = 0;  // "v1", "v2", "v3"
  double momentum() const { return m_; }
  void set_momentum(double m);

  // v1/v2: encoder_q; v3: base_encoder (the backbone with its projector as
  // head; query_encoder().features(x) are the backbone's features).
  virtual nn::Backbone& query_encoder() const = 0;
  // v1/v2: encoder_k; v3: momentum_encoder.
  virtual nn::Backbone& key_encoder() const = 0;
  // The child of the query encoder that MoCo replaced: "fc" (ResNet) or "head" (ViT).
  std::string head_name() const { return query_encoder().head_name(); }
  // The query encoder without its head: the pretrained backbone, with
  // torchvision/timm names (what main_lincls.py keeps); loads into a ResNet or
  // ViT with load_state_dict(strict = false) or after adding a fresh head.
  nn::NamedTensors backbone_state_dict() const;

  // Everything a checkpoint needs to continue the run: state_dict() plus the
  // queue ("queue" [dim, K], "queue_ptr") and the shuffle generator
  // ("shuffle_generator": int64 [seed, offset]) where the model has them.
  // Loading is strict about the model's tensors and the queue; the shuffle
  // generator is optional (official checkpoints, with their "module." prefix
  // stripped, load too).
  virtual nn::NamedTensors checkpoint_state() const;
  virtual void load_checkpoint_state(const nn::NamedTensors& state);

 protected:
  MoCo() = default;
  MoCo(const MoCo&) = default;
  // The encoder registered as child `name` (the constructors register backbones only).
  nn::Backbone& encoder(const std::string& name) const { return static_cast<nn::Backbone&>(child(name)); }
  double m_ = 0.999;
};

}  // namespace moco::contrastive
