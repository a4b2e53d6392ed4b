// Micro-benchmark of single ops of the training step, forward and forward +
// backward through autograd, on the shapes of the benchmark models:
//   relu        ResNet-18 activation, [64, 64, 32, 32]
//   gelu        ViT-Tiny MLP hidden, [64*65, 768]
//   layer_norm  ViT-Tiny tokens, [64*65, 192] with weight and bias
//   add         ResNet-18 residual sum, [64, 64, 32, 32]
//   softmax     ViT-Tiny attention, [64*3, 65, 65]
// bench/ops_bench_torch.py times the same in PyTorch; bench/ops_bench.sh runs
// both interleaved and keeps each side's best.
//
// Usage: ops_bench [REPS=20] [OP ...]. Prints one line per measurement:
//   <op> <fwd|fwd+bwd> <best ms>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "tensor/random.h"

using namespace moco;

namespace {

using Clock = std::chrono::steady_clock;

double best_ms(int reps, const std::function<void()>& f) {
  f();  // warm-up: first-touch page faults, allocator
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return best;
}

struct Case {
  std::string name;
  Shape shape;
  std::function<Tensor(const Tensor&)> f;
};

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 20;
  std::vector<std::string> only(argv + std::min(argc, 2), argv + argc);
  Generator gen(1);
  const int64_t tokens = 64 * 65;
  Tensor ln_w = randn({192}, gen), ln_b = randn({192}, gen);
  ln_w.requires_grad_();
  ln_b.requires_grad_();
  Tensor res = randn({64, 64, 32, 32}, gen);
  const std::vector<Case> cases = {
      {"relu", {64, 64, 32, 32}, [](const Tensor& x) { return relu(x); }},
      {"gelu", {tokens, 768}, [](const Tensor& x) { return gelu(x); }},
      {"layer_norm", {tokens, 192}, [&](const Tensor& x) { return layer_norm(x, 1, ln_w, ln_b, 1e-6); }},
      {"add", {64, 64, 32, 32}, [&](const Tensor& x) { return add(x, res); }},
      {"softmax", {64 * 3, 65, 65}, [](const Tensor& x) { return softmax(x, -1); }},
  };
  for (const Case& c : cases) {
    if (!only.empty() && std::find(only.begin(), only.end(), c.name) == only.end()) continue;
    Tensor x = randn(c.shape, gen);
    Tensor g = randn(c.shape, gen);
    const double fwd = best_ms(reps, [&] {
      NoGradGuard no_grad;
      Tensor y = c.f(x);
    });
    x.requires_grad_();
    const double fwd_bwd = best_ms(reps, [&] {
      Tensor y = c.f(x);
      y.backward(g);
      x.zero_grad();
      ln_w.zero_grad();
      ln_b.zero_grad();
    });
    std::printf("%s fwd %.3f\n%s fwd+bwd %.3f\n", c.name.c_str(), fwd, c.name.c_str(), fwd_bwd);
    std::fflush(stdout);
  }
  return 0;
}
