// Started by tests/dist under `mpirun -np 2`: GradientReducer (the all-reduce
// overlapped with the backward pass, in buckets) against average_gradients
// (one all-reduce after it), on a small MLP whose buckets are made tiny so
// that there are several. The model uses one weight twice (two paths add to
// its gradient: it is ready only after both) and has one parameter that the
// loss does not reach (no gradient: left out, as average_gradients does).
// Each rank feeds its own batch. The averaged gradients must agree bit for
// bit, and some buckets must have started before the pass ended (otherwise
// nothing overlapped). Exit status 0 when both hold.
#include <cstdio>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "tensor/random.h"
#include "train/dist.h"

using namespace moco;

namespace {

struct Mlp {
  std::vector<Tensor> params;
  explicit Mlp(uint64_t seed) {
    Generator gen(seed);
    for (auto shape : std::vector<std::vector<int64_t>>{{6, 16}, {16}, {16, 16}, {16}, {16, 16}, {16}, {16, 3}, {3}, {5}}) {
      Tensor p = randn(shape, gen);
      p.requires_grad_(true);
      params.push_back(p);
    }
  }
  Tensor loss(const Tensor& x) const {
    const auto& p = params;
    Tensor h = relu(add(matmul(x, p[0]), p[1]));
    h = relu(add(matmul(h, p[2]), p[3]));
    h = relu(add(matmul(h, p[2]), p[5]));  // p[2] again (p[4] is not used)
    h = add(matmul(h, p[6]), p[7]);
    return mean(mul(h, h));  // p[8] (and p[4]) never reached
  }
  void zero_grad() {
    for (Tensor& p : params) p.set_grad(Tensor());
  }
};

}  // namespace

int main(int argc, char** argv) try {
  train::init_distributed(&argc, &argv);
  ProcessGroup& g = world();
  Mlp m(5);
  Generator data(100 + uint64_t(g.rank()));
  const Tensor x = randn({8, 6}, data);

  m.zero_grad();
  m.loss(x).backward();
  train::average_gradients(g, m.params);
  std::vector<Tensor> want;
  for (const Tensor& p : m.params) want.push_back(p.grad().defined() ? p.grad().clone() : Tensor());

  // Pass 1 buckets the parameters backwards (the unused p[8] first: that
  // bucket holds up the others); pass 2 follows the order pass 1 saw.
  train::GradientReducer reducer(g, m.params, /*bucket_bytes=*/300);
  bool ok = reducer.buckets() > 2;
  for (int pass = 1; pass <= 2; ++pass) {
    m.zero_grad();
    reducer.backward(m.loss(x));
    double worst = 0;
    bool same_defined = true;
    for (size_t i = 0; i < m.params.size(); ++i) {
      const Tensor got = m.params[i].grad();
      if (got.defined() != want[i].defined()) same_defined = false;
      if (got.defined() && want[i].defined()) worst = std::max(worst, amax(abs(sub(got, want[i]))).item());
    }
    std::printf("rank %d, pass %d: %zu buckets, %zu started during the pass; largest difference from "
                "average_gradients %g%s\n",
                g.rank(), pass, reducer.buckets(), reducer.started_during_pass(), worst,
                same_defined ? "" : "; a gradient is defined on one side only");
    ok = ok && same_defined && worst == 0;
    // Pass 2: every bucket but those of p[4] and p[8] (unused, buckets of their own) starts during the pass.
    if (pass == 2) ok = ok && reducer.started_during_pass() + 2 == reducer.buckets();
  }
  train::finalize_distributed();
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "rank %d: error: %s\n", world().rank(), e.what());
  world().abort(1);
}
