#include "nn/models/pos_embed.h"

#include <cmath>
#include <vector>

#include "tensor/error.h"

namespace moco::nn {

Tensor sincos_pos_embed_2d(int64_t grid_h, int64_t grid_w, int64_t dim, double temperature, bool cls_token) {
  MOCO_CHECK(dim > 0 && dim % 4 == 0, "sincos_pos_embed_2d: embed dim {} must be a positive multiple of 4", dim);
  MOCO_CHECK(grid_h > 0 && grid_w > 0, "sincos_pos_embed_2d: grid {}x{} must be positive", grid_h, grid_w);
  const int64_t pos_dim = dim / 4, tokens = grid_h * grid_w + (cls_token ? 1 : 0);
  // float32 arithmetic in the order PyTorch does it, so values match to the last bits.
  std::vector<float> omega(static_cast<size_t>(pos_dim));
  for (int64_t k = 0; k < pos_dim; ++k)
    omega[size_t(k)] = 1.0f / std::pow(float(temperature), float(k) / float(pos_dim));
  std::vector<float> pe(size_t(tokens * dim), 0.0f);
  float* row = pe.data() + (cls_token ? dim : 0);
  for (int64_t i = 0; i < grid_w; ++i)
    for (int64_t j = 0; j < grid_h; ++j, row += dim)
      for (int64_t k = 0; k < pos_dim; ++k) {
        const float a = float(i) * omega[size_t(k)], b = float(j) * omega[size_t(k)];
        row[k] = std::sin(a);
        row[pos_dim + k] = std::cos(a);
        row[2 * pos_dim + k] = std::sin(b);
        row[3 * pos_dim + k] = std::cos(b);
      }
  return Tensor::from_vector(pe, {1, tokens, dim});
}

}  // namespace moco::nn
