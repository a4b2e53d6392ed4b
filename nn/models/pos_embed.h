// The fixed 2-D sin-cos position embedding of MoCo v3 (vits.py,
// build_2d_sincos_position_embedding): for a grid_h × grid_w patch grid and
// dim divisible by 4, token m gets [sin(a·ω), cos(a·ω), sin(b·ω), cos(b·ω)]
// with ω_k = 1 / temperature^(k / (dim/4)) and (a, b) = (m / grid_h, m % grid_h)
// — MoCo v3's torch.meshgrid(grid_w, grid_h) order, kept exactly. With
// cls_token, a zero row comes first. Shape [1, tokens, dim], float32.
#pragma once
#include "tensor/tensor.h"

namespace moco::nn {

Tensor sincos_pos_embed_2d(int64_t grid_h, int64_t grid_w, int64_t dim, double temperature = 10000.0,
                           bool cls_token = true);

}  // namespace moco::nn
