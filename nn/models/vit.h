// Vision Transformer as in MoCo v3 (vits.py, on timm's VisionTransformer),
// with timm's tensor names: patch_embed.proj, cls_token, pos_embed,
// blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}, norm, head.
//
// Fixed 2-D sin-cos position embedding (a parameter that does not require
// grad, as MoCo v3 makes it), a cls token, pre-norm blocks with LayerNorm eps
// 1e-6, the head on the cls token (num_classes = 0: Identity head, forward
// returns the dim-wide features). MoCo v3's initialisation: qkv uniform with
// bound √(6/(dim + dim)) per q/k/v part, other Linear weights xavier-uniform,
// biases 0, cls token N(0, 1e-6), patch projection uniform with bound
// √(6/(3·p·p + dim)); stop_grad_conv1 freezes the patch projection.
#pragma once
#include "nn/models/backbone.h"

namespace moco::nn {

struct ViTConfig {
  int64_t img_size = 224, patch_size = 16, in_chans = 3;
  int64_t embed_dim = 192, depth = 12, num_heads = 3;
  double mlp_ratio = 4.0;
  bool qkv_bias = true;
  int64_t num_classes = 1000;  // 0: feature-only
  bool stop_grad_conv1 = false;

  // The presets: tiny (192, 12, 3 heads), small (384, 12, 12 heads, as MoCo v3), base (768, 12, 12).
  static ViTConfig tiny() { return {}; }
  static ViTConfig small() {
    ViTConfig c;
    c.embed_dim = 384;
    c.num_heads = 12;
    return c;
  }
  static ViTConfig base() {
    ViTConfig c;
    c.embed_dim = 768;
    c.num_heads = 12;
    return c;
  }
  // "vit_tiny", "vit_small", "vit_base" (also without the "vit_" prefix).
  static ViTConfig preset(const std::string& name);
};

// A Backbone (nn/models/backbone.h): forward(x) = head(features(x)).
class VisionTransformer : public Cloneable<VisionTransformer, Backbone> {
 public:
  explicit VisionTransformer(const ViTConfig& cfg);
  std::string type_name() const override { return "VisionTransformer"; }
  // The normalised cls token before the head: [B, embed_dim].
  Tensor features(const Tensor& x) override;
  int64_t feature_dim() const override { return cfg_.embed_dim; }
  std::string head_name() const override { return "head"; }
  std::string family() const override { return "vit"; }
  // "patch_embed 16x16 stride 16" (", frozen" with stop_grad_conv1).
  std::string stem() const override;
  const ViTConfig& config() const { return cfg_; }
  const Tensor& cls_token() const { return param(0); }
  const Tensor& pos_embed() const { return param(1); }

 private:
  ViTConfig cfg_;
};

}  // namespace moco::nn
