// Parameter initialisation, as torch.nn.init. Every scheme draws from one
// seeded generator for initialisation (init_generator()); seeding it with
// manual_seed() makes model construction reproducible.
#pragma once
#include <cstdint>

#include "tensor/random.h"

namespace moco::nn {

// The generator every layer constructor draws its initial values from.
Generator& init_generator();
void manual_seed(uint64_t seed);

namespace init {

// While one is alive (per thread), the random initialisers fill zeros instead
// of drawing: for models whose weights are about to be loaded from a
// checkpoint, where drawing would be wasted time. Constant inits still apply.
class SkipInitGuard {
 public:
  SkipInitGuard();
  ~SkipInitGuard();
  SkipInitGuard(const SkipInitGuard&) = delete;
  SkipInitGuard& operator=(const SkipInitGuard&) = delete;
  static bool active();

 private:
  bool prev_;
};

struct Fans {
  int64_t in = 0, out = 0;
};
// fan_in / fan_out of a weight: [out, in] or [out, in/groups, kh, kw] (torch's rule).
Fans fans(const Tensor& w);

enum class FanMode { fan_in, fan_out };
// torch.nn.init.calculate_gain for "linear"/"conv"/"sigmoid" (1), "relu" (√2),
// "leaky_relu" with slope a (√(2/(1+a²))), "tanh" (5/3).
double gain(const char* nonlinearity, double a = 0);

void zeros_(const Tensor& t);
void ones_(const Tensor& t);
void constant_(const Tensor& t, double v);
void uniform_(const Tensor& t, double lo, double hi, Generator& gen = init_generator());
void normal_(const Tensor& t, double mean, double std, Generator& gen = init_generator());
// bound = gain · √(3 / fan)
void kaiming_uniform_(const Tensor& t, double a = 0, FanMode mode = FanMode::fan_in,
                      const char* nonlinearity = "leaky_relu", Generator& gen = init_generator());
// std = gain / √fan
void kaiming_normal_(const Tensor& t, double a = 0, FanMode mode = FanMode::fan_in,
                     const char* nonlinearity = "leaky_relu", Generator& gen = init_generator());
// bound = gain · √(6 / (fan_in + fan_out))
void xavier_uniform_(const Tensor& t, double gain = 1, Generator& gen = init_generator());

// PyTorch's default for Linear and Conv2d: weight kaiming-uniform with a = √5
// (bound 1/√fan_in), bias uniform in ±1/√fan_in.
void default_linear_conv_(const Tensor& weight, const Tensor& bias, Generator& gen = init_generator());

}  // namespace init
}  // namespace moco::nn
