#include "train/run_flags.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "tensor/backend.h"
#include "train/dist.h"

namespace moco::train {

namespace fs = std::filesystem;

DataOptions data_options(const Flags& a, double train_fraction, uint64_t seed, bool want_val) {
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

DataSetup open_data(const Flags& a, double train_fraction, uint64_t seed, bool want_val) {
  return open_data(data_options(a, train_fraction, seed, want_val));
}

ModelSpec model_spec(const Flags& a, int img_size, int channels, int64_t num_classes) {
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

std::vector<double> milestones(const Flags& a) {
  std::vector<double> m;
  for (int64_t e : a.int_list("schedule")) m.push_back(double(e));
  return m;
}

int64_t last_epoch(const Flags& a, int64_t start_epoch, int64_t epochs) {
  const int64_t n = a.integer("stop-after", 0);
  return n > 0 ? std::min(epochs, start_epoch + n) : epochs;
}

RunSetup setup_run(Flags& a, const std::string& command, const std::vector<std::string>& argv,
                   const std::function<void(Flags&)>& resolve) {
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

void adopt_model_flags(Flags& a, const Pretrained& p) {
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

}  // namespace moco::train
