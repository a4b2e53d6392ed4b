#include "nn/patch_embed.h"

#include "nn/conv.h"

namespace moco::nn {

PatchEmbed::PatchEmbed(int64_t img_size, int64_t patch_size, int64_t in_chans, int64_t embed_dim)
    : img_(img_size), patch_(patch_size) {
  MOCO_CHECK(patch_size > 0 && img_size > 0 && img_size % patch_size == 0,
             "PatchEmbed: image size {} must be a positive multiple of the patch size {}", img_size, patch_size);
  register_module("proj", std::make_shared<Conv2d>(in_chans, embed_dim, patch_size, patch_size, 0, true));
}

Tensor PatchEmbed::forward(const Tensor& x) {
  MOCO_CHECK(x.dim() == 4 && x.size(2) == img_ && x.size(3) == img_,
             "PatchEmbed: expected [B, C, {}, {}] images, got {}", img_, img_, shape_str(x.shape()));
  return child("proj")(x).flatten(2).transpose(1, 2);  // [B, dim, g, g] -> [B, g·g, dim]
}

}  // namespace moco::nn
