// Started by tests/dist under `mpirun -np N`: MoCo v2 with shuffle-BN, N
// ranks against a one-process emulation of the same cross-rank grouping,
// for a few SGD steps; exit status 0 when weights, queue and pointer agree.
//
// How the emulation is built: one process, SplitBatchNorm with one group per
// rank (bn_splits = N) in place of each rank's BatchNorm, and the global batch
// laid out so that SplitBatchNorm's groups are the ranks' batches.
// SplitBatchNorm (the CIFAR-10 demo's) views [B, C, H, W] as [B/N, C*N, H, W],
// so its group r holds the images at positions r, r+N, r+2N, ...: the
// emulation puts rank r's image i at position i*N + r.
//   * The query encoder then normalises each rank's images alone, as each
//     rank's BatchNorm does with its own batch.
//   * The key batch: DDP gathers every rank's images in rank order (image i of
//     rank r at r*n + i), shuffles them by a permutation P, and rank r forwards
//     positions r*n .. r*n+n-1 of the shuffled batch. The emulation shuffles
//     its layout by Pe with Pe[j*N + r] = e(P[r*n + j]), e(r*n + i) = i*N + r,
//     so its group r holds the very images rank r forwards.
//   * The loss is the mean over the global batch, whose gradient is the mean
//     of the ranks' mean-loss gradients (DDP's average).
//   * The queue takes the same keys: in rank order under DDP
//     (concat_all_gather), in the emulation's layout in one process, so each
//     step's block of rows is compared through e.
// BatchNorm's running statistics differ by design (each group's vs the mean
// of the groups') and are not compared: no forward in training mode reads them.
#include <cmath>
#include <cstdio>
#include <string>

#include "autograd/ops.h"
#include "contrastive/moco_v2.h"
#include "nn/init.h"
#include "optim/optim.h"
#include "tensor/random.h"
#include "train/dist.h"
#include "train/model_spec.h"

using namespace moco;

namespace {

constexpr int64_t kPerRank = 4, kSteps = 3;

std::shared_ptr<contrastive::MoCoV2> build(int64_t bn_splits) {
  train::ModelSpec spec;
  spec.width = 4;
  spec.in_chans = 1;
  spec.img_size = 16;
  spec.num_classes = 0;
  contrastive::MoCoV2Config c = contrastive::MoCoV2Config::v2();
  c.dim = 8;
  c.K = 96;  // a multiple of the global batch for 2, 3 or 4 ranks
  c.m = 0.9;
  c.bn_splits = bn_splits;
  c.shuffle_seed = 7;
  nn::manual_seed(3);
  return std::make_shared<contrastive::MoCoV2>(train::make_backbone(spec), c);
}

// Position of DDP's global image g (rank g / n, image g % n) in the emulation's layout.
int64_t emul(int64_t g, int64_t n, int64_t ranks) { return (g % n) * ranks + g / n; }

// kSteps of SGD on the same images: as rank `rank` of `ranks` (emulate: false),
// or as the one-process emulation of them all (emulate: true).
void train_steps(contrastive::MoCoV2& m, ProcessGroup& g, int64_t ranks, int64_t rank, bool emulate) {
  const int64_t n = kPerRank, global = n * ranks;
  optim::SGDConfig sc;
  sc.lr = 0.1;
  sc.momentum = 0.9;
  sc.weight_decay = 1e-4;
  optim::SGD opt({optim::make_group(m.named_parameters(), true)}, sc);
  std::vector<Tensor> params;
  for (auto& [name, p] : m.named_parameters()) params.push_back(p);
  std::vector<int64_t> to_emul(size_t(global), 0), from_emul(size_t(global), 0);
  for (int64_t d = 0; d < global; ++d) to_emul[size_t(d)] = emul(d, n, ranks), from_emul[size_t(emul(d, n, ranks))] = d;
  const Tensor layout = Tensor::from_vector(from_emul, {global});
  Generator data(11), shuffles(5);  // the same images and permutations on every rank
  for (int64_t s = 0; s < kSteps; ++s) {
    const Tensor xq = randn({global, 1, 16, 16}, data), xk = randn({global, 1, 16, 16}, data);
    const std::vector<int64_t> P = randperm(global, shuffles).to_vector<int64_t>();
    contrastive::MoCoOutput out;
    if (emulate) {
      std::vector<int64_t> pe(size_t(global), 0);
      for (int64_t r = 0; r < ranks; ++r)
        for (int64_t j = 0; j < n; ++j) pe[size_t(j * ranks + r)] = to_emul[size_t(P[size_t(r * n + j)])];
      out = m.forward_views(index_select(xq, 0, layout), index_select(xk, 0, layout),
                            {Tensor::from_vector(pe, {global})});
    } else {
      out = m.forward_views(xq.narrow(0, rank * n, n), xk.narrow(0, rank * n, n), {Tensor::from_vector(P, {global})});
    }
    m.zero_grad();
    out.loss.backward();
    train::average_gradients(g, params);
    opt.step();
  }
}

}  // namespace

int main(int argc, char** argv) try {
  train::init_distributed(&argc, &argv);
  ProcessGroup& g = world();
  const int64_t ranks = g.size(), n = kPerRank, global = n * ranks;
  auto ddp = build(1);
  ddp->set_process_group(&g);
  train_steps(*ddp, g, ranks, g.rank(), false);

  int status = 0;
  if (g.is_writer()) {
    auto one = build(ranks);
    auto single = single_process_group();
    train_steps(*one, *single, ranks, 0, true);
    double worst = 0;
    int compared = 0;
    const nn::NamedTensors a = ddp->checkpoint_state(), b = one->checkpoint_state();
    for (size_t i = 0; i < a.size(); ++i) {
      const std::string& name = a[i].first;
      if (name.find("running_") != std::string::npos || name.find("num_batches") != std::string::npos) continue;
      if (name == "shuffle_generator" || name == "queue_age") continue;
      Tensor x = a[i].second.to(DType::f64), y = b[i].second.to(DType::f64);
      if (name == "queue") {  // [dim, K] as builder.py keeps it: each step's block of columns in its own order
        std::vector<int64_t> cols(size_t(y.size(1)), 0);
        for (int64_t c = 0; c < y.size(1); ++c)  // the columns no step wrote keep their initial keys
          cols[size_t(c)] = c < kSteps * global ? (c / global) * global + emul(c % global, n, ranks) : c;
        y = index_select(y, 1, Tensor::from_vector(cols, {y.size(1)}));
      }
      const double d = amax(abs(sub(x, y))).item();
      worst = std::max(worst, d);
      ++compared;
      if (!(d <= 1e-5) || name != b[i].first) {
        std::printf("moco_ddp_check: %s differs by %g (%s)\n", name.c_str(), d, b[i].first.c_str());
        status = 1;
      }
    }
    std::printf("moco_ddp_check: %lld ranks vs their one-process emulation, %lld steps: %d tensors compared (weights, "
                "queue, pointer), largest difference %.3g: %s\n",
                (long long)ranks, (long long)kSteps, compared, worst, status == 0 ? "the same" : "DIFFERENT");
    std::fflush(stdout);
  }
  std::vector<double> st = {double(status)};
  g.all_reduce_sum(st);
  train::finalize_distributed();
  return st[0] == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "moco_ddp_check: %s\n", e.what());
  world().abort(1);
}
