// The training-step benchmark of `moco bench`: times training steps on fixed
// random inputs, one step as the PyTorch reference
// (/work/shared/reference/moco_torch_bench.py) defines it, so
// bench/moco_step_bench.sh can put both side by side:
//   sup    supervised ResNet (SGD) or ViT (AdamW), 10 classes, cross-entropy
//   mocov2 MoCo v2 (contrastive/moco_v2.h) on a small-stem ResNet, queue, SGD
//   mocov3 MoCo v3 (contrastive/moco_v3.h) on a ViT, AdamW; the batch counts image pairs
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace moco::train {

struct BenchOptions {
  std::string method = "sup";   // sup | mocov2 | mocov3
  std::string arch;             // resolved: resnet18|34|50, vit_tiny|small|base
  int64_t batch = 64, size = 32, channels = 3;
  int64_t width = 64;                                    // ResNet
  int64_t patch = 4, depth = 12, dim = 192, heads = 3;   // ViT (dim/heads resolved from the arch)
  int64_t moco_k = 4096, bn_splits = 1, mlp_dim = 4096;  // mocov2 queue / split BN; mocov3 MLP hidden width
  int64_t warmup = 2, steps = 5;
  int64_t log_every = 0;  // mocov2/v3: time `moco pretrain --log-every`'s internals (0: off)
  int threads = 2;
  uint64_t seed = 0;
  std::string device = "cpu";
  bool json = false;
};

// The method and backbone --method and --model name: "auto" resolves to
// vit_tiny for mocov3, else resnet18; "mocov2_resnet18" names both (and must
// agree with `method` when `method_given`). Throws on an unknown or unfit pair.
void resolve_bench_model(BenchOptions& o, bool method_given);
// The ViT's width and heads from its arch (0: the preset's), and the checks
// that need several values (patch, queue, BN groups, batch); throws with a
// clear message, before any model is built.
void check_bench_options(BenchOptions& o);

struct BenchResult {
  BenchOptions opt;
  std::string device;  // as resolved, e.g. "cuda:0"
  int threads = 0;     // what the thread pool reports
  int64_t trainable_params = 0;
  // Timed steps only; losses of every step (warm-up included).
  std::vector<double> step_sec, forward_sec, backward_sec, optimizer_sec, cpu_sec, losses;
  double peak_rss_mib = 0;
  // With log_every > 0 the timed steps alternate: plain ones, then ones that
  // also measure and format the internals (contrastive/internals.h) as `moco
  // pretrain` does on a logged step. step_sec leaves the internals out.
  std::vector<double> plain_step_sec, logged_step_sec, internals_sec;
  // median(internals_sec) / (log_every · median(plain_step_sec)): the share
  // of training time the step log costs at that interval.
  double internals_overhead() const;

  double sec_per_step() const;    // median of step_sec
  double images_per_sec() const;  // batch / sec_per_step: image pairs for MoCo, as the reference counts
  std::string json() const;       // one line, the keys bench/moco_step_table.py reads
  std::string text() const;       // one line for people
};

// `log_steps`: one line per step on stderr.
BenchResult run_bench(const BenchOptions& o, bool log_steps);

}  // namespace moco::train
