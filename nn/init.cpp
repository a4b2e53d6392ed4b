#include "nn/init.h"

#include <cmath>
#include <cstring>

#include "autograd/engine.h"

namespace moco::nn {

Generator& init_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(uint64_t seed) { init_generator().set_state(seed, 0); }

namespace init {

namespace {
thread_local bool g_skip = false;
}

SkipInitGuard::SkipInitGuard() : prev_(g_skip) { g_skip = true; }
SkipInitGuard::~SkipInitGuard() { g_skip = prev_; }
bool SkipInitGuard::active() { return g_skip; }

Fans fans(const Tensor& w) {
  MOCO_CHECK(w.dim() >= 2, "init: fan in/out need a weight with at least 2 dims, got {}", shape_str(w.shape()));
  int64_t receptive = 1;
  for (int64_t d = 2; d < w.dim(); ++d) receptive *= w.size(d);
  return {w.size(1) * receptive, w.size(0) * receptive};
}

double gain(const char* nl, double a) {
  if (!std::strcmp(nl, "linear") || !std::strcmp(nl, "conv2d") || !std::strcmp(nl, "sigmoid")) return 1;
  if (!std::strcmp(nl, "relu")) return std::sqrt(2.0);
  if (!std::strcmp(nl, "leaky_relu")) return std::sqrt(2.0 / (1 + a * a));
  if (!std::strcmp(nl, "tanh")) return 5.0 / 3.0;
  fail("init::gain: unknown nonlinearity '{}'", nl);
}

void zeros_(const Tensor& t) { constant_(t, 0); }
void ones_(const Tensor& t) { constant_(t, 1); }
void constant_(const Tensor& t, double v) { t.fill_(v); }

void uniform_(const Tensor& t, double lo, double hi, Generator& gen) {
  if (g_skip) return zeros_(t);
  NoGradGuard no_grad;
  moco::uniform_(t, lo, hi, gen);
}

void normal_(const Tensor& t, double mean, double std, Generator& gen) {
  if (g_skip) return zeros_(t);
  NoGradGuard no_grad;
  moco::normal_(t, mean, std, gen);
}

namespace {
int64_t fan(const Tensor& t, FanMode mode) {
  Fans f = fans(t);
  return mode == FanMode::fan_in ? f.in : f.out;
}
}  // namespace

void kaiming_uniform_(const Tensor& t, double a, FanMode mode, const char* nl, Generator& gen) {
  const double bound = gain(nl, a) * std::sqrt(3.0 / double(fan(t, mode)));
  init::uniform_(t, -bound, bound, gen);
}

void kaiming_normal_(const Tensor& t, double a, FanMode mode, const char* nl, Generator& gen) {
  init::normal_(t, 0, gain(nl, a) / std::sqrt(double(fan(t, mode))), gen);
}

void xavier_uniform_(const Tensor& t, double g, Generator& gen) {
  Fans f = fans(t);
  const double bound = g * std::sqrt(6.0 / double(f.in + f.out));
  init::uniform_(t, -bound, bound, gen);
}

void default_linear_conv_(const Tensor& weight, const Tensor& bias, Generator& gen) {
  kaiming_uniform_(weight, std::sqrt(5.0), FanMode::fan_in, "leaky_relu", gen);
  if (bias.defined()) {
    const int64_t fi = fans(weight).in;
    const double bound = fi > 0 ? 1.0 / std::sqrt(double(fi)) : 0;
    init::uniform_(bias, -bound, bound, gen);
  }
}

}  // namespace init
}  // namespace moco::nn
