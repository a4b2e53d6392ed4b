#include "nn/pool.h"

#include <fmt/format.h>

namespace moco::nn {

MaxPool2d::MaxPool2d(int64_t kernel_size, int64_t stride, int64_t padding)
    : k_(kernel_size), s_(stride > 0 ? stride : kernel_size), p_(padding) {
  MOCO_CHECK(k_ > 0 && p_ >= 0 && 2 * p_ <= k_, "MaxPool2d: kernel {} must be positive, padding {} in [0, kernel/2]",
             k_, p_);
}

std::string MaxPool2d::extra_repr() const {
  return fmt::format("kernel_size={}, stride={}, padding={}", k_, s_, p_);
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(int64_t out_h, int64_t out_w) : oh_(out_h), ow_(out_w > 0 ? out_w : out_h) {
  MOCO_CHECK(oh_ > 0 && ow_ > 0, "AdaptiveAvgPool2d: output size must be positive, got {}x{}", oh_, ow_);
}

std::string AdaptiveAvgPool2d::extra_repr() const { return fmt::format("output_size=({}, {})", oh_, ow_); }

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  // Global pooling (ResNet's avgpool) as a mean: one reduction, no pooling window.
  if (oh_ == 1 && ow_ == 1 && x.dim() == 4) return mean(x, {2, 3}, true);
  return adaptive_avg_pool2d(x, oh_, ow_);
}

}  // namespace moco::nn
