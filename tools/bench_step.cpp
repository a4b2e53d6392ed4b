#include "tools/bench_step.h"

#include <cstdio>

#include "tensor/backend.h"
#include "tools/args.h"

namespace moco::cli {
namespace {

const char* kDescription =
    "Time training steps on fixed random inputs (drawn once: no data loading, no augmentation). Each method's "
    "step is the one of the PyTorch reference moco_torch_bench.py (bench/moco_step_bench.sh runs both). "
    "--method sup: supervised, 10 classes, cross-entropy: resnet* (small-image stem) with SGD(lr 0.06, momentum 0.9, "
    "wd 5e-4), or vit_* with AdamW(lr 1.5e-4*B/256, wd 0.1). "
    "--method mocov2: MoCo v2 on a small-stem ResNet (conv1 3x3 stride 1, no max-pool): MLP head d->d->ReLU->128, "
    "momentum key encoder (m 0.99), queue of --moco-k normalised keys, T 0.2, keys computed on a shuffled batch "
    "(--bn-splits > 1: split BN), SGD(lr 0.06, momentum 0.9, wd 5e-4). "
    "--method mocov3: MoCo v3 on a ViT: 2-D sin-cos position embedding, frozen patch projection, 3-layer projector "
    "(hidden --mlp-dim, out 256, last BN without affine), 2-layer predictor (hidden --mlp-dim, no last BN, as "
    "the reference), momentum encoder (m 0.99), symmetric loss ctr(q1,k2)+ctr(q2,k1) scaled by 2T, T 0.2, "
    "AdamW(lr 1.5e-4*B/256, wd 0.1). "
    "A step = zero_grad + forward (MoCo: query forward, momentum update, key forward, loss, enqueue) + backward "
    "+ optimiser step + reading the loss (loss.item(), which waits for a GPU). For MoCo the batch counts image "
    "pairs (B images per view, two views). Reported: the median seconds per step over --steps after --warmup "
    "untimed steps, images/s = batch / median, the forward / backward / optimiser split, the process CPU "
    "seconds per step (all threads) and the peak RSS. "
    "--log-every N (mocov2, mocov3): every other timed step also measures MoCo's internals as `moco pretrain "
    "--log-every` does on a logged step (after backward, before the optimiser step) and formats their row; "
    "reported: the median seconds of that measurement, of plain and of logged steps, and the overhead at "
    "interval N = internals / (N x plain step). The step time excludes it.";

}  // namespace

std::optional<BenchOptions> parse_bench_flags(const std::vector<std::string>& argv) {
  Args args("bench", kDescription);
  args.opt("method", "sup", "sup | mocov2 | mocov3: which training step (see above)")
      .opt("model", "auto", "resnet18 | resnet34 | resnet50 | vit_tiny | vit_small | vit_base (auto: vit_tiny for "
                            "mocov3, else resnet18); mocov2_resnet18 = --method mocov2 --arch resnet18")
      .opt("batch", "64", "images per step (MoCo: image pairs)")
      .opt("size", "32", "image side in pixels")
      .opt("channels", "3", "image channels")
      .opt("width", "64", "ResNet base width")
      .opt("patch", "4", "ViT patch size")
      .opt("depth", "12", "ViT depth")
      .opt("dim", "0", "ViT embedding width (0: the arch's: tiny 192, small 384, base 768)")
      .opt("heads", "0", "ViT attention heads (0: the arch's: tiny 3, small 12, base 12)")
      .opt("moco-k", "4096", "mocov2: queue size, a multiple of the batch")
      .opt("bn-splits", "1", "mocov2: shuffle-BN groups (SplitBatchNorm; 1: plain BatchNorm as the reference's default)")
      .opt("mlp-dim", "4096", "mocov3: hidden width of the projector and predictor")
      .opt("warmup", "2", "untimed steps first")
      .opt("steps", "5", "timed steps (the median is reported)")
      .opt("log-every", "0", "mocov2/mocov3: time the internals of `moco pretrain --log-every N` on every other "
                             "timed step and report their overhead at this interval (0: off)")
      .opt("threads", "2", "CPU threads")
      .opt("seed", "0", "seed for weights, data and shuffles")
      .opt("device", "cpu", "cpu | cuda (cuda:N)")
      .flag("json", "print one JSON line instead of text");
  // The spellings of `moco pretrain` and the official scripts.
  args.alias("--arch", "model")
      .alias("-a", "model")
      .alias("--batch-size", "batch")
      .alias("-b", "batch")
      .alias("--image-size", "size")
      .alias("--patch-size", "patch")
      .alias("--vit-depth", "depth")
      .alias("--vit-dim", "dim")
      .alias("--vit-heads", "heads")
      .alias("--moco-mlp-dim", "mlp-dim");
  if (!args.parse(argv)) return std::nullopt;

  BenchOptions o;
  o.method = args.str("method");
  o.arch = args.str("model");
  resolve_bench_model(o, args.given("method"));
  o.batch = args.integer("batch", 1, 1 << 20);
  o.size = args.integer("size", 8, 4096);
  o.channels = args.integer("channels", 1, 64);
  o.width = args.integer("width", 1, 4096);
  o.warmup = args.integer("warmup", 0, 1000);
  o.steps = args.integer("steps", 1, 100000);
  o.threads = int(args.integer("threads", 1, 1024));
  o.seed = uint64_t(args.integer("seed", 0));
  o.device = args.str("device");
  o.json = args.on("json");
  o.log_every = args.integer("log-every", 0, 1000000);
  if (o.arch.rfind("vit", 0) == 0) {
    o.patch = args.integer("patch", 1, 1024);
    o.depth = args.integer("depth", 1, 1024);
    o.dim = args.integer("dim", 0, 100000);
    o.heads = args.integer("heads", 0, 1024);
  }
  if (o.method == "mocov2") {
    o.moco_k = args.integer("moco-k", 1, int64_t(1) << 30);
    o.bn_splits = args.integer("bn-splits", 1, 1 << 20);
  }
  if (o.method == "mocov3") o.mlp_dim = args.integer("mlp-dim", 1, 1 << 20);
  check_bench_options(o);
  const Device dev = Device::parse(o.device);
  if (!dev.is_cpu()) (void)backend_for(dev);  // "built without CUDA" now, not after building the model
  return o;
}

int bench_command(const std::vector<std::string>& argv) {
  std::optional<BenchOptions> o = parse_bench_flags(argv);
  if (!o) return 0;
  BenchResult r = run_bench(*o, !o->json);
  std::printf("%s\n", o->json ? r.json().c_str() : r.text().c_str());
  return 0;
}

}  // namespace moco::cli
