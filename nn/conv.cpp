#include "nn/conv.h"

#include <fmt/format.h>

#include "nn/init.h"

namespace moco::nn {

Conv2d::Conv2d(const Conv2dConfig& c) : cfg_(c) {
  MOCO_CHECK(c.in_channels > 0 && c.out_channels > 0 && c.kernel_size > 0 && c.stride > 0 && c.padding >= 0 &&
                 c.dilation > 0 && c.groups > 0,
             "Conv2d: invalid configuration in={} out={} kernel={} stride={} padding={} dilation={} groups={}",
             c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding, c.dilation, c.groups);
  MOCO_CHECK(c.in_channels % c.groups == 0 && c.out_channels % c.groups == 0,
             "Conv2d: groups={} must divide in_channels={} and out_channels={}", c.groups, c.in_channels,
             c.out_channels);
  register_parameter("weight", Tensor::empty({c.out_channels, c.in_channels / c.groups, c.kernel_size, c.kernel_size}));
  if (c.bias) register_parameter("bias", Tensor::empty({c.out_channels}));
  init::default_linear_conv_(weight(), bias());
  opt_.stride_h = opt_.stride_w = c.stride;
  opt_.pad_h = opt_.pad_w = c.padding;
  opt_.dil_h = opt_.dil_w = c.dilation;
  opt_.groups = c.groups;
}

namespace {
Conv2dConfig make_cfg(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, bool bias) {
  Conv2dConfig c;
  c.in_channels = in;
  c.out_channels = out;
  c.kernel_size = k;
  c.stride = s;
  c.padding = p;
  c.bias = bias;
  return c;
}
}  // namespace

Conv2d::Conv2d(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, bool bias)
    : Conv2d(make_cfg(in, out, k, s, p, bias)) {}

std::string Conv2d::extra_repr() const {
  std::string s = fmt::format("{}, {}, kernel_size=({}, {}), stride=({}, {})", cfg_.in_channels, cfg_.out_channels,
                              cfg_.kernel_size, cfg_.kernel_size, cfg_.stride, cfg_.stride);
  if (cfg_.padding) s += fmt::format(", padding=({}, {})", cfg_.padding, cfg_.padding);
  if (cfg_.dilation != 1) s += fmt::format(", dilation=({}, {})", cfg_.dilation, cfg_.dilation);
  if (cfg_.groups != 1) s += fmt::format(", groups={}", cfg_.groups);
  if (!cfg_.bias) s += ", bias=False";
  return s;
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight(), bias(), opt_); }

}  // namespace moco::nn
