// `moco demo`: trains a 2-layer MLP on a generated two-spirals problem and
// shows the loss going down: a real, seconds-long end-to-end check of the
// tensor, autograd and BLAS stack.
#include <cmath>
#include <cstdio>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "tensor/backend.h"
#include "tools/args.h"
#include "tools/command.h"

namespace moco::cli {
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

int run(const std::vector<std::string>& argv) {
  Args args("demo", "Train a 2-layer MLP on two generated spirals (a quick end-to-end check).");
  args.opt("steps", "600", "optimisation steps")
      .opt("hidden", "64", "hidden units")
      .opt("lr", "0.5", "SGD learning rate")
      .opt("samples", "1024", "training points")
      .opt("seed", "0", "random seed")
      .opt("threads", "2", "CPU threads");
  if (!args.parse(argv)) return 0;
  set_num_threads(int(args.integer("threads", 1, 1024)));
  const int64_t steps = args.integer("steps", 1, 1000000), hidden = args.integer("hidden", 1, 65536);
  const double lr = args.real("lr", 0, 100);
  Generator gen(uint64_t(args.integer("seed", 0)));

  Tensor x, y;
  make_spirals(args.integer("samples", 2, 10000000), gen, x, y);
  auto init = [&](Shape s, int64_t fan_in) {
    Tensor t = rand(s, gen);
    const double bound = 1.0 / std::sqrt(double(fan_in));
    t = Tensor(t.mul_(2 * bound).add_(Tensor::scalar(-bound)));
    return t.requires_grad_();
  };
  Tensor w1 = init({hidden, 2}, 2), b1 = init({hidden}, 2);
  Tensor w2 = init({2, hidden}, hidden), b2 = init({2}, hidden);
  std::vector<Tensor> params{w1, b1, w2, b2};

  std::printf("two spirals, %ld points; MLP 2-%ld-2, SGD lr %.3g\n", long(x.size(0)), long(hidden), lr);
  double first = 0, last = 0;
  for (int64_t step = 0; step < steps; ++step) {
    Tensor logits = linear(relu(linear(x, w1, b1)), w2, b2);
    Tensor loss = cross_entropy(logits, y);
    for (auto& p : params) p.zero_grad();
    loss.backward();
    {
      NoGradGuard no_grad;
      for (auto& p : params) p.add_(p.grad(), -lr);
    }
    last = loss.item();
    if (step == 0) first = last;
    if (step % (steps / 10 > 0 ? steps / 10 : 1) == 0 || step == steps - 1) {
      NoGradGuard no_grad;
      double acc = mean(eq(argmax(logits, 1), y).to(DType::f32)).item();
      std::printf("step %5ld  loss %.4f  train accuracy %5.1f%%\n", long(step), last, 100 * acc);
    }
  }
  std::printf("loss %.4f -> %.4f\n", first, last);
  return last < first ? 0 : 1;
}

Register reg({"demo", "train a small MLP on generated spirals (a seconds-long end-to-end check of the stack)", run});

}  // namespace
}  // namespace moco::cli
