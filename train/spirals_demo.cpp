#include "train/spirals_demo.h"

#include <cmath>
#include <utility>
#include <vector>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "tensor/random.h"

namespace moco::train {

namespace {

// Two interleaved spirals, one per class, with a little noise.
void make_spirals(int64_t n, Generator& gen, Tensor& x, Tensor& y) {
  std::vector<float> xs;
  std::vector<int64_t> ys;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t cls = i % 2;
    const double t = gen.uniform(0.25, 1.0) * 3 * M_PI;
    const double r = t / (3 * M_PI);
    const double sgn = cls ? -1 : 1;
    xs.push_back(float(sgn * r * std::cos(t) + gen.normal(0, 0.02)));
    xs.push_back(float(sgn * r * std::sin(t) + gen.normal(0, 0.02)));
    ys.push_back(cls);
  }
  x = Tensor::from_vector(xs, {n, 2});
  y = Tensor::from_vector(ys, {n});
}

}  // namespace

std::pair<double, double> train_spirals(const SpiralsDemo& o, const std::function<void(const SpiralsStep&)>& report) {
  Generator gen(o.seed);
  Tensor x, y;
  make_spirals(o.samples, gen, x, y);
  auto init = [&](Shape s, int64_t fan_in) {
    Tensor t = rand(s, gen);
    const double bound = 1.0 / std::sqrt(double(fan_in));
    t = Tensor(t.mul_(2 * bound).add_(Tensor::scalar(-bound)));
    return t.requires_grad_();
  };
  const int64_t hidden = o.hidden, steps = o.steps;
  Tensor w1 = init({hidden, 2}, 2), b1 = init({hidden}, 2);
  Tensor w2 = init({2, hidden}, hidden), b2 = init({2}, hidden);
  std::vector<Tensor> params{w1, b1, w2, b2};

  double first = 0, last = 0;
  for (int64_t step = 0; step < steps; ++step) {
    Tensor logits = linear(relu(linear(x, w1, b1)), w2, b2);
    Tensor loss = cross_entropy(logits, y);
    for (auto& p : params) p.zero_grad();
    loss.backward();
    {
      NoGradGuard no_grad;
      for (auto& p : params) p.add_(p.grad(), -o.lr);
    }
    last = loss.item();
    if (step == 0) first = last;
    if (step % (steps / 10 > 0 ? steps / 10 : 1) == 0 || step == steps - 1) {
      NoGradGuard no_grad;
      const double acc = mean(eq(argmax(logits, 1), y).to(DType::f32)).item();
      if (report) report({step, last, acc});
    }
  }
  return {first, last};
}

}  // namespace moco::train
