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

DataOptions data_options(const Args& a, double train_fraction, uint64_t seed, bool want_val) {
  DataOptions o;
  o.dataset = a.str("dataset");
  o.data = a.str("data");
  o.classes = a.str("classes");
  o.train_fraction = train_fraction;
  if (a.has("label-floor")) o.label_floor = a.integer("label-floor", 1, INT64_MAX);
  o.image_size = int(a.integer("image-size", 0, 4096));
  o.channels = int(a.integer("channels", 0, 3));
  if (a.has("max-image-pixels")) o.max_image_pixels = uint64_t(a.integer("max-image-pixels", 0));
  if (a.has("val-fraction")) o.val_fraction = a.real("val-fraction", 0, 0.9);
  if (a.has("skip-bad-images")) o.skip_bad_images = a.on("skip-bad-images");
  o.workers = int(a.integer("workers", 0, 256));
  o.want_val = want_val;
  o.seed = seed;
  return o;
}

DataSetup open_data(const Args& a, double train_fraction, uint64_t seed, bool want_val) {
  return train::open_data(data_options(a, train_fraction, seed, want_val));
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

ModelSpec model_spec(const Args& a, int img_size, int channels, int64_t num_classes) {
  ModelSizes z;  // only the flags of the kind of backbone asked for are read
  if (a.str("arch").rfind("vit", 0) == 0) {
    z.patch = a.integer("patch-size", 0, 4096);
    z.depth = a.integer("vit-depth", 0, 1000);
    z.dim = a.integer("vit-dim", 0, 100000);
    z.heads = a.integer("vit-heads", 0, 1000);
  } else {
    z.width = a.integer("width", 1, 4096);
    z.stem = a.str("stem");
  }
  return resolve_model_spec(a.str("arch"), z, img_size, channels, num_classes);
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

std::vector<double> milestones(const Args& a) {
  std::vector<double> m;
  for (int64_t e : a.int_list("schedule")) m.push_back(double(e));
  return m;
}

int64_t last_epoch(const Args& a, int64_t start_epoch, int64_t epochs) {
  const int64_t n = a.integer("stop-after", 0);
  return n > 0 ? std::min(epochs, start_epoch + n) : epochs;
}

RunSetup setup_run(Args& a, const std::string& command, const std::vector<std::string>& argv,
                   const std::function<void(Args&)>& resolve) {
  RunSetup r;
  std::string original_command;
  r.overwrite = a.on("overwrite");
  if (!a.str("resume").empty()) {
    const ResumeSource src = open_resume(a.str("resume"), command);
    r.resume_from = src.checkpoint;
    r.resume_meta = src.meta;
    if (!a.given("out")) a.set("out", src.dir);
    if (src.config) {
      original_command = src.config->command;
      // The same run on the same machine: its threads and device come back too.
      for (const auto* m : {&src.config->flags, &src.config->machine})
        for (auto& [k, v] : *m)
          if (!never_taken_back(k) && a.has(k) && !a.given(k)) a.set_from_run(k, v);
    }
    std::error_code ec;
    r.in_place = fs::equivalent(a.str("out"), src.dir, ec);
    MOCO_USAGE_CHECK(!(r.in_place && r.overwrite),
                     "--overwrite with --resume {} would delete the run it continues: give one of them", a.str("resume"));
  } else if (a.has("config") && !a.str("config").empty()) {
    // Another run's configuration, to run it again: flags given override it.
    std::string path;
    const RunConfig c = read_config_of(a.str("config"), command, path);
    for (auto& [k, v] : c.flags) {
      if (never_taken_back(k)) continue;
      MOCO_USAGE_CHECK(a.has(k), "--config {}: \"{}\" is not a flag of moco {} (see moco {} --help)", path,
                       printable(k), command, command);
      // A switch must be a boolean, any other flag a number or a string.
      MOCO_USAGE_CHECK(a.is_switch(k) == (c.switches.count(k) != 0),
                       "--config {}: \"{}\" must be {}, got {}", path, k,
                       a.is_switch(k) ? "true or false" : "a number or a string",
                       c.switches.count(k) ? "a boolean" : "'" + printable(v) + "'");
      if (!a.given(k)) a.set_from_run(k, v);
    }
  }
  r.out = a.str("out");
  MOCO_USAGE_CHECK(!r.out.empty(), "--out must name a folder");
  check_dist_backend(a.has("dist-backend") ? a.str("dist-backend") : "auto");
  if (a.has("dist-timeout")) world().set_timeout(a.real("dist-timeout", 1));
  // Rank 0 owns the run folder: the others only read from it. Checked again
  // under the lock in open(); here so that a busy folder is refused before
  // the data and the model are built.
  if (!r.in_place && !r.overwrite && world().is_writer()) check_out_free(r.out);
  if (resolve) resolve(a);
  const int threads = int(a.integer("threads", 0, 4096));
  if (threads > 0) set_num_threads(threads);
  r.device = open_device(a.str("device"));
  if (a.has("dist-backend") && a.str("dist-backend") == "nccl") use_nccl(r.device);
  r.seed = uint64_t(a.integer("seed", 0));
  std::set<std::string> switches;
  for (auto& [k, v] : a.values())
    if (a.is_switch(k)) switches.insert(k);
  r.config = make_run_config(a.values(), switches, threads, command, argv, original_command);
  return r;
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

void adopt_model_flags(Args& a, const Pretrained& p) {
  if (!p.has_spec()) return;
  ModelSpec s = ModelSpec::from_meta(p.meta);
  auto adopt = [&](const char* flag, const std::string& v) {
    if (a.has(flag) && !a.given(flag)) a.set(flag, v);
  };
  adopt("arch", s.arch);
  adopt("width", std::to_string(s.width));
  adopt("stem", s.small_stem ? "small" : "imagenet");
  adopt("patch-size", std::to_string(s.patch));
  adopt("vit-depth", std::to_string(s.depth));
  adopt("vit-dim", std::to_string(s.dim));
  adopt("vit-heads", std::to_string(s.heads));
  adopt("image-size", std::to_string(s.img_size));
  adopt("channels", std::to_string(s.in_chans));
}

// -------------------------------------------------------------- helpers

std::string fmt_duration(double s) {
  const int64_t t = int64_t(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02}m{:02}s", t / 3600, t / 60 % 60, t % 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{:.1f}s", s);
}

}  // namespace moco::cli
