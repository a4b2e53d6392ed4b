#include "nn/models/vit.h"

#include <fmt/format.h>

#include <cmath>
#include <memory>

#include "autograd/ops.h"
#include "nn/activation.h"
#include "nn/conv.h"
#include "nn/init.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/models/pos_embed.h"
#include "nn/patch_embed.h"
#include "nn/sequential.h"
#include "nn/transformer.h"

namespace moco::nn {

ViTConfig ViTConfig::preset(const std::string& name_in) {
  std::string name = name_in.rfind("vit_", 0) == 0 ? name_in.substr(4) : name_in;
  if (name == "tiny") return tiny();
  if (name == "small") return small();
  if (name == "base") return base();
  fail("ViT: unknown preset '{}' (vit_tiny, vit_small, vit_base)", name_in);
}

// Parameters: cls_token, pos_embed (cls_token() and pos_embed() read them by
// registration index 0 and 1). Children: patch_embed, blocks, norm, head.
VisionTransformer::VisionTransformer(const ViTConfig& cfg) : cfg_(cfg) {
  MOCO_CHECK(cfg.embed_dim > 0 && cfg.depth > 0 && cfg.num_heads > 0 && cfg.embed_dim % cfg.num_heads == 0,
             "ViT: embed_dim {} must be divisible by num_heads {}, depth {} positive", cfg.embed_dim, cfg.num_heads,
             cfg.depth);
  MOCO_CHECK(cfg.embed_dim % 4 == 0, "ViT: embed_dim {} must be a multiple of 4 for the 2-D sin-cos embedding",
             cfg.embed_dim);
  const int64_t D = cfg.embed_dim;
  // Every random initialisation happens once, below (no default init first).
  auto skip = std::make_unique<init::SkipInitGuard>();
  auto& pe = register_module("patch_embed", std::make_shared<PatchEmbed>(cfg.img_size, cfg.patch_size, cfg.in_chans, D));
  register_parameter("cls_token", Tensor::zeros({1, 1, D}));
  register_parameter("pos_embed", sincos_pos_embed_2d(pe.grid_size(), pe.grid_size(), D), false);
  auto blocks = std::make_shared<Sequential>();
  for (int64_t i = 0; i < cfg.depth; ++i)
    blocks->push_back(std::make_shared<Block>(D, cfg.num_heads, cfg.mlp_ratio, cfg.qkv_bias, 1e-6));
  register_module("blocks", blocks);
  register_module("norm", std::make_shared<LayerNorm>(D, 1e-6));
  if (cfg.num_classes > 0)
    register_module("head", std::make_shared<Linear>(D, cfg.num_classes));
  else
    register_module("head", std::make_shared<Identity>());
  skip.reset();

  // MoCo v3's initialisation (vits.py).
  for (auto& [name, m] : named_modules()) {
    auto* lin = dynamic_cast<Linear*>(m);
    if (!lin) continue;
    if (name.find("qkv") != std::string::npos) {
      const double v = std::sqrt(6.0 / double(lin->weight().size(0) / 3 + lin->weight().size(1)));
      init::uniform_(lin->weight(), -v, v);
    } else {
      init::xavier_uniform_(lin->weight());
    }
    if (lin->bias().defined()) init::zeros_(lin->bias());
  }
  init::normal_(cls_token(), 0, 1e-6);
  auto& proj = pe.child_as<Conv2d>("proj");
  const double v = std::sqrt(6.0 / double(3 * cfg.patch_size * cfg.patch_size + D));
  init::uniform_(proj.weight(), -v, v);
  init::zeros_(proj.bias());
  if (cfg.stop_grad_conv1) proj.requires_grad_(false);
}

Tensor VisionTransformer::features(const Tensor& x) {
  Tensor t = child("patch_embed")(x);  // [B, N, D]
  const int64_t B = t.size(0), D = cfg_.embed_dim;
  t = cat({cls_token().expand({B, 1, D}), t}, 1);
  t = add(t, pos_embed());
  t = child("norm")(child("blocks")(t));
  return t.select(1, 0);
}

std::string VisionTransformer::stem() const {
  return fmt::format("patch_embed {0}x{0} stride {0}{1}", cfg_.patch_size, cfg_.stop_grad_conv1 ? ", frozen" : "");
}

}  // namespace moco::nn
