// Started by tests/dist under `mpirun -np N`: SyncBatchNorm on N ranks, each
// with its slice of a global batch, against plain BatchNorm on the whole batch
// in one process (every rank computes that reference itself), for each input
// SyncBatchNorm takes: BatchNorm2d [N, C, H, W], BatchNorm1d [N, C] with and
// without affine parameters (MoCo v3's projector and predictor), BatchNorm1d
// [N, C, L]. The outputs and input gradients of each slice, the parameter
// gradients summed over the ranks (the global loss is the sum of the ranks'
// losses) and the running statistics must agree within kTol.
//
// That the tolerance is tight: the same forward with a bug — the statistics'
// all-reduce without its backward, so a rank's input gradient misses what its
// images contribute to the other ranks' losses through the shared mean and
// variance — must miss the reference's input gradient by far more than kTol.
// Exit status 0 when every case agrees and every broken run is caught.
#include <cstdio>
#include <string>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "nn/batchnorm.h"
#include "nn/sync_batchnorm.h"
#include "tensor/random.h"
#include "train/dist.h"

using namespace moco;

namespace {

constexpr double kTol = 2e-5;

double worst_diff(const Tensor& a, const Tensor& b) { return amax(abs(sub(a, b))).item(); }

// Sum over the ranks whose gradient stays this rank's own (the bug).
Tensor all_reduce_without_backward(const Tensor& t, ProcessGroup& g) {
  Tensor others;
  {
    NoGradGuard no_grad;
    Tensor all = t.detach().clone();
    g.all_reduce_sum(all);
    others = sub(all, t.detach());
  }
  return add(t, others);
}

// SyncBatchNorm's training forward (no affine, no running statistics) with the bug.
Tensor broken_sync_bn(const Tensor& x, ProcessGroup& g, double eps) {
  const int64_t C = x.size(1);
  std::vector<int64_t> over = {0}, per_channel = {1, C};
  for (int64_t d = 2; d < x.dim(); ++d) over.push_back(d), per_channel.push_back(1);
  const double n = double(x.numel() / C * g.size());
  const Tensor mu = mul(all_reduce_without_backward(sum(x, over), g), 1.0 / n);
  const Tensor centred = sub(x, mu.view(per_channel));
  const Tensor var = mul(all_reduce_without_backward(sum(mul(centred, centred), over), g), 1.0 / n);
  return mul(centred, rsqrt(add(var, eps)).view(per_channel));
}

struct Case {
  const char* name;
  Shape per_rank;  // the slice's shape; dim 0 the rank's batch
  bool two_d, affine;
};

// Returns the number of failures on this rank; `worst` and `broken_gap` get this rank's figures.
int check(const Case& c, ProcessGroup& g, double& worst, double& broken_gap) {
  const int64_t ranks = g.size(), r = g.rank(), n = c.per_rank[0], C = c.per_rank[1];
  Shape global = c.per_rank;
  global[0] = n * ranks;
  Generator gen(21);  // the same global batch, upstream gradient and affine parameters on every rank
  const Tensor x = add(mul(randn(global, gen), 2.0), 0.5), gy = randn(global, gen);
  const Tensor w0 = randn({C}, gen), b0 = randn({C}, gen);
  nn::BatchNormConfig cfg;
  cfg.affine = c.affine;
  auto make_bn = [&]() -> std::shared_ptr<nn::BatchNorm> {
    std::shared_ptr<nn::BatchNorm> bn;
    if (c.two_d) bn = std::make_shared<nn::BatchNorm2d>(C, cfg);
    else bn = std::make_shared<nn::BatchNorm1d>(C, cfg);
    if (c.affine) {
      NoGradGuard no_grad;
      bn->weight().copy_(w0);
      bn->bias().copy_(b0);
    }
    return bn;
  };

  // Reference: BatchNorm over the global batch, in one process.
  auto ref = make_bn();
  Tensor xr = x.clone().requires_grad_();
  Tensor yr = (*ref)(xr);
  sum(mul(yr, gy)).backward();

  // SyncBatchNorm over the ranks, each with its slice.
  auto bn = make_bn();
  nn::SyncBatchNorm sync(*bn, g);
  Tensor xs = x.narrow(0, r * n, n).clone().requires_grad_();
  Tensor ys = sync(xs);
  const Tensor gys = gy.narrow(0, r * n, n);
  sum(mul(ys, gys)).backward();

  std::vector<std::pair<const char*, double>> d = {
      {"output", worst_diff(ys, yr.narrow(0, r * n, n))},
      {"input gradient", worst_diff(xs.grad(), xr.grad().narrow(0, r * n, n))},
      {"running mean", worst_diff(sync.running_mean(), ref->running_mean())},
      {"running var", worst_diff(sync.running_var(), ref->running_var())}};
  if (c.affine) {
    Tensor gw = sync.weight().grad().clone(), gb = sync.bias().grad().clone();
    g.all_reduce_sum(gw);
    g.all_reduce_sum(gb);
    d.push_back({"weight gradient", worst_diff(gw, ref->weight().grad())});
    d.push_back({"bias gradient", worst_diff(gb, ref->bias().grad())});
  }
  int failures = 0;
  for (auto& [what, v] : d) {
    worst = std::max(worst, v);
    if (!(v <= kTol)) {
      std::printf("syncbn_check: rank %lld, %s: %s differs by %g\n", (long long)r, c.name, what, v);
      ++failures;
    }
  }

  // The broken version against a reference without affine parameters (the bug is in the statistics).
  nn::BatchNormConfig plain;
  plain.affine = false;
  std::shared_ptr<nn::BatchNorm> ref0;
  if (c.two_d) ref0 = std::make_shared<nn::BatchNorm2d>(C, plain);
  else ref0 = std::make_shared<nn::BatchNorm1d>(C, plain);
  Tensor x0 = x.clone().requires_grad_();
  sum(mul((*ref0)(x0), gy)).backward();
  Tensor xb = x.narrow(0, r * n, n).clone().requires_grad_();
  sum(mul(broken_sync_bn(xb, g, plain.eps), gys)).backward();
  broken_gap = worst_diff(xb.grad(), x0.grad().narrow(0, r * n, n));
  std::vector<double> gap = {broken_gap};  // the bug shows on every rank together; judged on their sum
  g.all_reduce_sum(gap);
  if (!(gap[0] > 100 * kTol)) {
    std::printf("syncbn_check: %s: a backward without its all-reduce went unnoticed (input gradient off by %g)\n",
                c.name, gap[0]);
    ++failures;
  }
  return failures;
}

}  // namespace

int main(int argc, char** argv) try {
  train::init_distributed(&argc, &argv);
  ProcessGroup& g = world();
  const Case cases[] = {{"BatchNorm2d [N, C, H, W]", {4, 3, 5, 5}, true, true},
                        {"BatchNorm1d [N, C]", {4, 6}, false, true},
                        {"BatchNorm1d [N, C] affine=False", {4, 6}, false, false},
                        {"BatchNorm1d [N, C, L]", {4, 3, 7}, false, true}};
  int failures = 0;
  double worst = 0, smallest_gap = 1e300;
  for (const Case& c : cases) {
    double gap = 0;
    failures += check(c, g, worst, gap);
    smallest_gap = std::min(smallest_gap, gap);
  }
  std::vector<double> st = {double(failures), worst};
  g.all_reduce_sum(st);
  if (g.is_writer())
    std::printf("syncbn_check: SyncBatchNorm on %lld ranks vs BatchNorm2d / BatchNorm1d on the global batch (%d "
                "cases): output, input and parameter gradients, running statistics: %s (largest difference on rank "
                "0: %.3g, tolerance %g; a backward without its all-reduce misses the input gradient by %.3g or more: "
                "%s)\n",
                (long long)g.size(), int(sizeof(cases) / sizeof(cases[0])), st[0] == 0 ? "the same" : "DIFFERENT",
                worst, kTol, smallest_gap, st[0] == 0 ? "caught" : "see above");
  std::fflush(stdout);
  train::finalize_distributed();
  return st[0] == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "syncbn_check: %s\n", e.what());
  world().abort(1);
}
