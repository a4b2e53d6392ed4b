#include "tools/cli_common.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "data/io.h"
#include "tensor/backend.h"
#include "train/stop_signal.h"

namespace moco::cli {

namespace fs = std::filesystem;

// ------------------------------------------------------------------ data

void add_data_flags(Args& a, bool supervised) {
  a.opt("dataset", "fashion-mnist", "fashion-mnist | mnist | cifar10 | cifar100 | stl10 | folder (ImageFolder)")
      .opt("data", "", "the data set's folder (Fashion-MNIST is found automatically)")
      .opt("classes", "", "use only these classes, by index or name, comma-separated (e.g. 0,2,4,6); empty: all");
  if (supervised)
    a.opt("label-fraction", "1", "fraction of each class's training labels used (e.g. 0.01, 0.1)")
        .opt("label-floor", "1", "with --label-fraction: keep at least this many labelled images per class (all of "
                                 "a smaller class)");
  else
    a.opt("data-fraction", "1", "fraction of each class's training images used for pretraining");
  a.opt("image-size", "0", "model input side in pixels (0: the images' own short side, the median of a sample; 224 "
                           "above 96 px)")
      .opt("channels", "0", "model input channels (0: 3 when any sampled image has colour, else 1)")
      .opt("val-fraction", "0.1", "folder data without a val/ (or test/) folder: the fraction of each class held out "
                                  "of the training images for validation, seeded (0 to 0.9; 0: none)")
      .opt("max-image-pixels", std::to_string(data::kDefaultMaxImagePixels),
           "refuse images of more pixels than this, from their header (decompression bombs; PIL's limit); 0: none")
      .flag("skip-bad-images", "folder data: decode every image when the data is opened and leave out (count and "
                               "list) those that fail, instead of stopping the run at the first")
      .opt("workers", "2", "data loader threads")
      .alias("-j", "workers");
}

// ----------------------------------------------------------------- models

void add_model_flags(Args& a) {
  a.opt("arch", "resnet18", "backbone: resnet18 | resnet34 | resnet50 | vit_tiny | vit_small | vit_base")
      .opt("width", "64", "ResNet: channels of the first stage (64 as torchvision; 16-32 for quick CPU runs)")
      .opt("stem", "auto", "ResNet stem: small (3x3 conv, no max-pool: CIFAR-sized images) | imagenet | auto "
                           "(small up to 64 px)")
      .opt("patch-size", "0", "ViT patch side (0: 16 from 96 px up, else 4)")
      .opt("vit-depth", "0", "ViT blocks (0: the arch's, 12)")
      .opt("vit-dim", "0", "ViT embedding width (0: the arch's: tiny 192, small 384, base 768)")
      .opt("vit-heads", "0", "ViT attention heads (0: the arch's: tiny 3, small 12, base 12)")
      .alias("-a", "arch");
}

// -------------------------------------------------------------- run flags

void add_run_flags(Args& a, const std::string& default_out) {
  a.opt("seed", "0", "seed of the weights, data order, augmentations and shuffles")
      .opt("out", default_out, "run folder: config.json, metrics.jsonl/csv, checkpoint.safetensors")
      .opt("resume", "", "continue a run from its checkpoint (file or run folder); flags not given are the run's")
      .opt("config", "", "run the configuration of another run again: its config.json (or its folder); flags "
                         "given beside it override its values")
      .flag("overwrite", "start a new run in an --out that holds one, replacing its checkpoint and metrics")
      .opt("threads", "0", "CPU threads (0: OMP_NUM_THREADS or all cores)")
      .opt("device", "cpu", "cpu | cuda (cuda:N)")
      .opt("dist-backend", "auto", "data-parallel training over the processes `mpirun -np N` starts: auto (mpi "
                                   "under mpirun, else one process) | none | mpi | nccl (GPUs; CUDA builds with "
                                   "NCCL). --batch-size stays the global batch, split over the processes")
      .opt("dist-timeout", "1800", "data-parallel: seconds a rank waits in a collective for the others before it "
                                   "ends the job with a message (a hung rank would otherwise hang them all)")
      .opt("check-sync-every", "0", "data-parallel: every N steps, check that every rank holds rank 0's weights "
                                    "bit for bit (0: at the start only)")
      .opt("stop-after", "0", "stop after this many epochs of this invocation (0: run to --epochs); the schedule "
                              "still spans --epochs, and --resume continues");
}

// ------------------------------------------------------------ checkpoints

void print_resumed(const std::string& checkpoint, int64_t epoch, const std::map<std::string, std::string>& meta) {
  std::printf("  resumed from %s after epoch %lld%s\n", checkpoint.c_str(), (long long)epoch,
              meta.count("step_in_epoch")
                  ? fmt::format(" and step {} of epoch {}", meta.at("step_in_epoch"), epoch + 1).c_str()
                  : "");
}

int stopped_run(const std::string& command, const std::string& dir, const RunEnd& end) {
  std::printf("\nmoco %s: stopped by %s at epoch %lld, step %lld of %lld, checkpoint saved — continue with: "
              "moco %s --resume %s\n",
              command.c_str(), end.signal == SIGTERM ? "SIGTERM" : "Ctrl-C", (long long)end.epoch, (long long)end.step,
              (long long)end.steps, command.c_str(), dir.c_str());
  std::fflush(stdout);
  return stop_exit_code(end.signal);
}

// -------------------------------------------------------------- helpers

std::string fmt_duration(double s) {
  const int64_t t = int64_t(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02}m{:02}s", t / 3600, t / 60 % 60, t % 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{:.1f}s", s);
}

}  // namespace moco::cli
