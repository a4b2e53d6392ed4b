// PatchEmbed (timm): a Conv2d with kernel = stride = patch, then the patches
// as tokens: [B, C, H, W] -> [B, (H/p)·(W/p), dim]. Child `proj`.
#pragma once
#include "nn/module.h"

namespace moco::nn {

class PatchEmbed : public Cloneable<PatchEmbed> {
 public:
  PatchEmbed(int64_t img_size, int64_t patch_size, int64_t in_chans, int64_t embed_dim);
  std::string type_name() const override { return "PatchEmbed"; }
  Tensor forward(const Tensor& x) override;
  int64_t grid_size() const { return img_ / patch_; }
  int64_t num_patches() const { return grid_size() * grid_size(); }
  int64_t patch_size() const { return patch_; }

 private:
  int64_t img_, patch_;
};

}  // namespace moco::nn
