// Started by tests/dist under `mpirun -np N`: MoCo v3 data-parallel (keys
// gathered across the ranks, labels arange(n) + n·rank, SyncBatchNorm in
// every BatchNorm of both encoders, projector and predictor included) against
// one process on the global batch, for a ResNet and a ViT, a few SGD steps;
// exit status 0 when they agree and the broken variants below are caught.
//
// Why they must agree: with SyncBatchNorm every BatchNorm sees the global
// batch, so each rank's q and k are the rows of the one-process q and k for
// its images. Rank r's loss is the mean cross-entropy of its n queries
// against all n·N gathered keys, its positives at n·r + i: the one-process
// logits' rows n·r .. n·r+n−1. DDP averages the ranks' gradients, i.e. takes
// the gradient of the mean of the ranks' means — the one-process mean over
// all n·N queries. The momentum update then moves identical weights
// identically. So the weights of the base and momentum encoders, predictor,
// and BatchNorm's running statistics match to float rounding (kTol, relative
// to a tensor's magnitude above 1: BatchNorm over 8 images amplifies rounding),
// and the mean of the ranks' losses matches the one-process loss.
//
// SGD, not the ViT recipe's AdamW: AdamW divides each step by the gradient's
// running RMS, so a parameter whose true gradient is 0 (the attention's key
// bias) takes a full lr-sized step in the direction of its rounding noise,
// which the summation order decides; SGD moves it by the noise itself.
//
// That the tolerance is tight: the same N ranks without SyncBatchNorm (each
// rank's BatchNorm over its own slice) and with SyncBatchNorm but without the
// gathered keys (each rank's queries against its own keys only) must each
// end more than 100·kTol away from the one process.
#include <cmath>
#include <cstdio>
#include <string>

#include "autograd/ops.h"
#include "contrastive/moco_v3.h"
#include "nn/init.h"
#include "nn/sync_batchnorm.h"
#include "optim/optim.h"
#include "tensor/random.h"
#include "train/dist.h"
#include "train/model_spec.h"

using namespace moco;

namespace {

constexpr int64_t kPerRank = 4, kSteps = 3;
constexpr double kTol = 5e-5;

std::shared_ptr<contrastive::MoCoV3> build(const std::string& arch) {
  train::ModelSpec spec;
  spec.arch = arch;
  spec.width = 4;
  spec.patch = 4, spec.depth = 1, spec.dim = 16, spec.heads = 2;
  spec.in_chans = 1;
  spec.img_size = 16;
  spec.num_classes = 0;
  contrastive::MoCoV3Config c;
  c.dim = 8;
  c.mlp_dim = 16;
  c.m = 0.9;  // far from 1, so that the momentum encoder moves visibly in kSteps
  c.T = 0.5;
  nn::manual_seed(3);
  return std::make_shared<contrastive::MoCoV3>(train::make_backbone(spec), c);
}

struct Run {
  nn::NamedTensors state;
  std::vector<double> losses;  // per step: the mean over the ranks of their losses
};

// kSteps of SGD on the same images; `g` of size 1: one process on the global batch.
Run train_steps(contrastive::MoCoV3& m, ProcessGroup& g, int64_t ranks) {
  const int64_t n = kPerRank, global = n * ranks, local = g.size() == 1 ? global : n;
  optim::SGDConfig sc;
  sc.lr = 0.01;
  sc.momentum = 0.9;
  sc.weight_decay = 1e-4;
  optim::SGD opt({optim::make_group(m.named_parameters(), true)}, sc);
  std::vector<Tensor> params;
  for (auto& [name, p] : m.named_parameters()) params.push_back(p);
  Generator data(11);  // the same global batch on every rank
  Run out;
  for (int64_t s = 0; s < kSteps; ++s) {
    const Tensor x1 = randn({global, 1, 16, 16}, data), x2 = randn({global, 1, 16, 16}, data);
    const int64_t first = g.size() == 1 ? 0 : g.rank() * n;
    contrastive::MoCoOutput o = m.forward_views(x1.narrow(0, first, local), x2.narrow(0, first, local));
    m.zero_grad();
    o.loss.backward();
    train::average_gradients(g, params);
    opt.step();
    std::vector<double> l = {o.loss.item() / double(g.size())};
    g.all_reduce_sum(l);
    out.losses.push_back(l[0]);
  }
  out.state = m.checkpoint_state();
  return out;
}

enum class Variant { ddp, no_sync_bn, local_keys };

// `ranks`: the job's, whose global batch `g` (the job's group, or one process) trains on.
Run run_ranks(const std::string& arch, ProcessGroup& g, int64_t ranks, Variant v) {
  auto m = build(arch);
  if (v != Variant::local_keys) m->set_process_group(&g);
  if (v != Variant::no_sync_bn) nn::use_sync_batch_norm(*m, g);
  return train_steps(*m, g, ranks);
}

// The largest difference of any tensor (and of the losses), relative to the
// tensor's largest magnitude where that exceeds 1; `tensors` counts the tensors compared.
double largest_difference(const Run& a, const Run& b, int* tensors = nullptr, std::string* where = nullptr) {
  double worst = 0;
  MOCO_CHECK(a.state.size() == b.state.size(), "{} tensors vs {}", a.state.size(), b.state.size());
  for (size_t i = 0; i < a.state.size(); ++i) {
    MOCO_CHECK(a.state[i].first == b.state[i].first, "tensor {}: {} vs {}", i, a.state[i].first, b.state[i].first);
    const Tensor x = a.state[i].second.to(DType::f64), y = b.state[i].second.to(DType::f64);
    const double d = amax(abs(sub(x, y))).item() / std::max(1.0, amax(abs(y)).item());
    if (d > worst && where) *where = a.state[i].first;
    worst = std::max(worst, d);
  }
  for (size_t s = 0; s < a.losses.size(); ++s) {
    const double d = std::abs(a.losses[s] - b.losses[s]) / std::max(1.0, std::abs(b.losses[s]));
    if (d > worst && where) *where = "loss of step " + std::to_string(s + 1);
    worst = std::max(worst, d);
  }
  if (tensors) *tensors = int(a.state.size());
  return worst;
}

}  // namespace

int main(int argc, char** argv) try {
  train::init_distributed(&argc, &argv);
  ProcessGroup& g = world();
  auto single = single_process_group();
  int status = 0;
  for (const std::string arch : {"resnet18", "vit_tiny"}) {
    // In a group of one, SyncBatchNorm is BatchNorm and the keys are the process's own.
    const Run one = run_ranks(arch, *single, g.size(), Variant::ddp);
    const Run ddp = run_ranks(arch, g, g.size(), Variant::ddp);
    const Run no_sync = run_ranks(arch, g, g.size(), Variant::no_sync_bn);
    const Run local = run_ranks(arch, g, g.size(), Variant::local_keys);
    if (!g.is_writer()) continue;
    int tensors = 0;
    std::string where;
    const double d = largest_difference(ddp, one, &tensors, &where);
    const double d_no_sync = largest_difference(no_sync, one), d_local = largest_difference(local, one);
    const bool same = d <= kTol, caught = d_no_sync > 100 * kTol && d_local > 100 * kTol;
    if (!same || !caught) status = 1;
    std::printf("moco_v3_ddp_check: %s, %lld ranks vs 1 process on the global batch, %lld SGD steps: %d tensors "
                "(base and momentum encoders, predictor, BatchNorm statistics) and the losses, largest difference "
                "%.3g (%s): %s; without SyncBatchNorm %.3g, without the gathered keys %.3g: %s\n",
                arch.c_str(), (long long)g.size(), (long long)kSteps, tensors, d, where.c_str(),
                same ? "the same" : "DIFFERENT", d_no_sync, d_local, caught ? "both caught" : "NOT CAUGHT");
    std::fflush(stdout);
  }
  std::vector<double> st = {double(status)};
  g.all_reduce_sum(st);
  train::finalize_distributed();
  return st[0] == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "moco_v3_ddp_check: %s\n", e.what());
  world().abort(1);
}
