// Started by tests/dist under `mpirun -np N`: SyncBatchNorm on N ranks, each
// with its slice of a global batch, against plain BatchNorm2d on the whole
// batch in one process (every rank computes that reference itself). The
// outputs and input gradients of each slice, the parameter gradients summed
// over the ranks (the global loss is the sum of the ranks' losses) and the
// running statistics must agree; exit status 0 when they do.
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

double worst_diff(const Tensor& a, const Tensor& b) { return amax(abs(sub(a, b))).item(); }

}  // namespace

int main(int argc, char** argv) try {
  train::init_distributed(&argc, &argv);
  ProcessGroup& g = world();
  const int64_t ranks = g.size(), r = g.rank(), n = 4, C = 3;
  Generator gen(21);  // the same global batch, upstream gradient and affine parameters on every rank
  const Tensor x = add(mul(randn({n * ranks, C, 5, 5}, gen), 2.0), 0.5), gy = randn({n * ranks, C, 5, 5}, gen);
  const Tensor w0 = randn({C}, gen), b0 = randn({C}, gen);
  auto make_bn = [&] {
    auto bn = std::make_shared<nn::BatchNorm2d>(C);
    NoGradGuard no_grad;
    bn->weight().copy_(w0);
    bn->bias().copy_(b0);
    return bn;
  };

  // Reference: BatchNorm2d over the global batch, in one process.
  auto ref = make_bn();
  Tensor xr = x.clone().requires_grad_();
  Tensor yr = (*ref)(xr);
  sum(mul(yr, gy)).backward();

  // SyncBatchNorm over the ranks, each with its slice.
  auto bn = make_bn();
  nn::SyncBatchNorm sync(*bn, g);
  Tensor xs = x.narrow(0, r * n, n).clone().requires_grad_();
  Tensor ys = sync(xs);
  sum(mul(ys, gy.narrow(0, r * n, n))).backward();
  Tensor gw = sync.weight().grad().clone(), gb = sync.bias().grad().clone();
  g.all_reduce_sum(gw);
  g.all_reduce_sum(gb);

  const double d[] = {worst_diff(ys, yr.narrow(0, r * n, n)), worst_diff(xs.grad(), xr.grad().narrow(0, r * n, n)),
                      worst_diff(gw, ref->weight().grad()), worst_diff(gb, ref->bias().grad()),
                      worst_diff(sync.running_mean(), ref->running_mean()),
                      worst_diff(sync.running_var(), ref->running_var())};
  const char* what[] = {"output", "input gradient", "weight gradient", "bias gradient", "running mean",
                        "running var"};
  int status = 0;
  double worst = 0;
  for (int i = 0; i < 6; ++i) {
    worst = std::max(worst, d[i]);
    if (!(d[i] <= 2e-5)) {
      std::printf("syncbn_check: rank %lld: %s differs by %g\n", (long long)r, what[i], d[i]);
      status = 1;
    }
  }
  std::vector<double> st = {double(status), worst};
  g.all_reduce_sum(st);
  if (g.is_writer())
    std::printf("syncbn_check: SyncBatchNorm on %lld ranks vs BatchNorm2d on the global batch: output, input and "
                "parameter gradients, running statistics: %s (largest difference on rank 0: %.3g)\n",
                (long long)ranks, st[0] == 0 ? "the same" : "DIFFERENT", worst);
  std::fflush(stdout);
  train::finalize_distributed();
  return st[0] == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "syncbn_check: %s\n", e.what());
  world().abort(1);
}
