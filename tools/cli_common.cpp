#include "tools/cli_common.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include "autograd/ops.h"
#include "tools/stop_signal.h"
#include "data/image_stats.h"
#include "data/io.h"
#include "nn/init.h"
#include "nn/json.h"
#include "nn/models/resnet.h"
#include "nn/models/vit.h"
#include "nn/safetensors.h"
#include "nn/state_dict.h"
#include "tensor/backend.h"

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

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

data::PresetOptions preset_options(const DataSetup& d) {
  data::PresetOptions po;
  po.size = d.size;
  po.channels = d.channels;
  po.mean = d.norm.mean;
  po.std = d.norm.std;
  return po;
}

data::DatasetPtr cap_images(data::DatasetPtr ds, int64_t max, uint64_t seed) {
  if (max <= 0 || max >= ds->size()) return ds;
  return data::subset_by_fraction(ds, double(max) / double(ds->size()), seed);
}

Tensor to_device(const Tensor& t, Device d) { return t.device() == d ? t : t.to(d); }

data::DatasetPtr select_classes(data::DatasetPtr ds, const std::string& classes) {
  std::vector<std::string> items = split_list(classes);
  if (items.empty()) return ds;
  bool numeric = true;
  for (auto& s : items) numeric = numeric && s.find_first_not_of("0123456789") == std::string::npos;
  if (numeric) {
    std::vector<int64_t> ids;
    for (auto& s : items) {
      MOCO_USAGE_CHECK(s.size() <= 9, "--classes: '{}' is not a class number of this data set", s);
      ids.push_back(std::stoll(s));
    }
    return data::subset_by_classes(ds, ids);
  }
  return data::subset_by_class_names(ds, items);
}

std::string DataSetup::describe() const {
  std::string cls;
  for (size_t i = 0; i < classes.size(); ++i) cls += (i ? ", " : "") + classes[i];
  return fmt::format("{}: {} train / {} val images, {} classes ({}), {}x{}x{} input", spec, train->size(),
                     val ? val->size() : 0, classes.size(), cls, channels, size, size);
}

std::string DataSetup::sources() const {
  return "train: " + train->describe() + (val ? "\n  validation: " + val->describe() : std::string());
}

void DataSetup::write_skipped(const RunDir& dir) const {
  if (skipped_images.empty()) return;
  std::string text;
  for (auto& f : skipped_images) text += f + "\n";
  write_file_atomic(dir.file("skipped_images.txt"), text);
  std::printf("  %zu unreadable images left out (--skip-bad-images): listed in %s\n", skipped_images.size(),
              dir.file("skipped_images.txt").c_str());
}

DataSetup open_data(const Args& a, double train_fraction, uint64_t seed, bool want_val) {
  DataSetup d;
  const std::string ds = a.str("dataset"), dir = a.str("data");
  d.spec = dir.empty() ? ds : ds + ":" + dir;
  MOCO_CHECK(train_fraction > 0 && train_fraction <= 1, "the training fraction must be in (0, 1], got {}",
             train_fraction);
  // Before any image is read; a command without these flags keeps the defaults.
  if (a.has("max-image-pixels")) data::set_max_image_pixels(uint64_t(a.integer("max-image-pixels", 0)));
  if (a.has("val-fraction")) d.open.val_fraction = a.real("val-fraction", 0, 0.9);
  if (a.has("skip-bad-images")) d.open.folder.skip_unreadable = a.on("skip-bad-images");
  data::DatasetPtr train, val;
  if (want_val) std::tie(train, val) = data::open_train_val(d.spec, d.open);
  else train = data::open_dataset(d.spec, "train", d.open);
  train = select_classes(train, a.str("classes"));
  d.classes = train->classes();
  if (!split_list(a.str("classes")).empty()) {  // a class chosen by name or number must have images
    std::vector<int64_t> count(d.classes.size(), 0);
    for (int64_t l : train->labels())
      if (l >= 0 && l < int64_t(count.size())) ++count[size_t(l)];
    std::vector<std::string> ids = split_list(a.str("classes"));
    for (size_t c = 0; c < count.size(); ++c)
      MOCO_CHECK(count[c] > 0, "class {} has no training images in {}", ids.size() == count.size() ? ids[c] : d.classes[c],
                 train->describe());
  }
  if (train_fraction < 1)
    train = data::subset_by_fraction(train, train_fraction, seed,
                                     a.has("label-floor") ? a.integer("label-floor", 1, INT64_MAX) : 1);
  d.train = train;
  if (want_val) d.val = select_classes(val, a.str("classes"));
  for (const data::DatasetPtr& split : {d.train, d.val})
    if (const data::ImageFolder* f = split ? data::image_folder_of(*split) : nullptr)
      for (const std::string& file : f->skipped_files())
        if (std::find(d.skipped_images.begin(), d.skipped_images.end(), file) == d.skipped_images.end())
          d.skipped_images.push_back(file);
  d.size = int(a.integer("image-size", 0, 4096));
  d.channels = int(a.integer("channels", 0, 3));
  if (d.size == 0 || d.channels == 0) {
    // From a sample, not the first image: one gray file in a colour folder,
    // or one thumbnail, would otherwise decide for every image.
    const data::ImageStats st = data::sample_image_stats(*d.train);
    if (d.size == 0) d.size = st.median_side <= 96 ? st.median_side : 224;
    MOCO_USAGE_CHECK(d.size >= 8 || a.given("image-size"),
                     "the images of {} are {} px on their short side (the median of {} sampled, {} to {} px), too "
                     "small to set the model input (at least 8); give --image-size N (N >= 8) to resize every "
                     "image to N x N",
                     d.train->describe(), st.median_side, st.sampled, st.min_side, st.max_side);
    if (d.channels == 0) d.channels = st.colour > 0 ? 3 : 1;
  }
  MOCO_USAGE_CHECK(d.size >= 8, "--image-size {} is too small (at least 8)", d.size);
  MOCO_CHECK(d.channels == 1 || d.channels == 3, "--channels must be 1 or 3, got {}", d.channels);
  d.norm = data::norm_stats_for(d.spec, d.channels);
  d.workers = int(a.integer("workers", 0, 256));
  return d;
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

static std::string bool_str(bool b) { return b ? "1" : "0"; }

std::string ModelSpec::describe() const {
  if (is_vit())
    return fmt::format("{} (patch {}, depth {}, width {}, {} heads{}), {}x{}x{} input, {}", arch, patch,
                       depth, dim, heads, stop_grad_conv1 ? ", frozen patch projection" : "", in_chans, img_size,
                       img_size, outputs());
  return fmt::format("{} (width {}, {} stem), {}x{}x{} input, {}", arch, width, small_stem ? "small" : "imagenet",
                     in_chans, img_size, img_size, outputs());
}

std::string ModelSpec::outputs() const {
  return num_classes > 0 ? fmt::format("{} classes", num_classes) : std::string("features only");
}

std::map<std::string, std::string> ModelSpec::to_meta() const {
  return {{"arch", arch},
          {"width", std::to_string(width)},
          {"small_stem", bool_str(small_stem)},
          {"patch", std::to_string(patch)},
          {"depth", std::to_string(depth)},
          {"dim", std::to_string(dim)},
          {"heads", std::to_string(heads)},
          {"in_chans", std::to_string(in_chans)},
          {"img_size", std::to_string(img_size)},
          {"num_classes", std::to_string(num_classes)},
          {"stop_grad_conv1", bool_str(stop_grad_conv1)},
          {"zero_init_residual", bool_str(zero_init_residual)},
          {"stem_default_init", bool_str(stem_default_init)}};
}

std::string meta_str(const std::map<std::string, std::string>& meta, const std::string& key) {
  auto it = meta.find(key);
  MOCO_CHECK(it != meta.end(), "checkpoint metadata lacks '{}' (not written by moco.cpp?)", key);
  return it->second;
}

int64_t meta_int(const std::map<std::string, std::string>& meta, const std::string& key, int64_t lo, int64_t hi) {
  const std::string v = meta_str(meta, key);
  int64_t x = 0;
  bool ok = !v.empty() && v.size() <= 18 && v.find_first_not_of("0123456789") == std::string::npos;
  if (ok) x = std::stoll(v);
  MOCO_CHECK(ok && x >= lo && x <= hi, "checkpoint metadata '{}' is '{}', expected a whole number in [{}, {}]", key,
             printable(v.substr(0, 40)), lo, hi);
  return x;
}

ModelSpec ModelSpec::from_meta(const std::map<std::string, std::string>& meta) {
  auto get = [&](const char* k) { return meta_str(meta, k); };
  auto num = [&](const char* k) { return meta_int(meta, k, 0, int64_t(1) << 30); };
  ModelSpec s;
  s.arch = get("arch");
  s.width = num("width");
  s.small_stem = get("small_stem") == "1";
  s.patch = num("patch");
  s.depth = num("depth");
  s.dim = num("dim");
  s.heads = num("heads");
  s.in_chans = num("in_chans");
  s.img_size = num("img_size");
  s.num_classes = num("num_classes");
  s.stop_grad_conv1 = get("stop_grad_conv1") == "1";
  s.zero_init_residual = get("zero_init_residual") == "1";
  s.stem_default_init = meta.count("stem_default_init") && meta.at("stem_default_init") == "1";  // older checkpoints lack it
  return s;
}

ModelSpec model_spec(const Args& a, int img_size, int channels, int64_t num_classes) {
  ModelSpec s;
  s.arch = a.str("arch");
  s.in_chans = channels;
  s.img_size = img_size;
  s.num_classes = num_classes;
  if (s.is_vit()) {
    nn::ViTConfig c = nn::ViTConfig::preset(s.arch);
    s.patch = a.integer("patch-size", 0, 4096);
    if (s.patch == 0) s.patch = img_size >= 96 ? 16 : 4;
    MOCO_CHECK(img_size % s.patch == 0, "--image-size {} is not a multiple of --patch-size {}", img_size, s.patch);
    s.depth = a.integer("vit-depth", 0, 1000);
    if (s.depth == 0) s.depth = c.depth;
    s.dim = a.integer("vit-dim", 0, 100000);
    if (s.dim == 0) s.dim = c.embed_dim;
    s.heads = a.integer("vit-heads", 0, 1000);
    if (s.heads == 0) s.heads = c.num_heads;
    MOCO_CHECK(s.dim % s.heads == 0, "--vit-dim {} is not a multiple of --vit-heads {}", s.dim, s.heads);
    MOCO_CHECK(s.dim % 4 == 0, "--vit-dim {} must be a multiple of 4 (2-D sin-cos position embedding)", s.dim);
  } else {
    MOCO_CHECK(s.arch == "resnet18" || s.arch == "resnet34" || s.arch == "resnet50",
               "unknown --arch '{}' (resnet18, resnet34, resnet50, vit_tiny, vit_small, vit_base)", s.arch);
    s.width = a.integer("width", 1, 4096);
    const std::string stem = a.str("stem");
    MOCO_CHECK(stem == "auto" || stem == "small" || stem == "imagenet",
               "--stem must be auto, small or imagenet, got '{}'", stem);
    s.small_stem = stem == "small" || (stem == "auto" && img_size <= 64);
  }
  return s;
}

static std::shared_ptr<nn::Module> build_backbone(const ModelSpec& s);

std::shared_ptr<nn::Module> make_backbone(const ModelSpec& s) {
  check_model_fits(s, 1, 0, "the model");  // a checkpoint's metadata can ask for any size
  return build_backbone(s);
}

double count_parameters(const ModelSpec& s) {
  // The tiny builds draw initial weights: the generator goes back to where it
  // was, so the model built next gets the weights its seed gives it.
  Generator& gen = nn::init_generator();
  const uint64_t seed = gen.seed(), offset = gen.offset();
  double p[3];
  for (int i = 0; i < 3; ++i) {
    ModelSpec t = s;
    if (s.is_vit()) {
      t.dim = 4 * (i + 1);  // the 2-D sin-cos embedding needs a multiple of 4
      t.heads = 1;
    } else {
      t.width = i + 1;
    }
    p[i] = double(build_backbone(t)->num_parameters(false));
  }
  gen.set_state(seed, offset);
  const double x = s.is_vit() ? double(s.dim) / 4 : double(s.width);
  const double a = (p[2] - 2 * p[1] + p[0]) / 2, b = p[1] - p[0] - 3 * a, c = p[0] - a - b;
  return a * x * x + b * x + c;
}

// Bytes of activations a training step keeps for the backward, per image: a
// rough upper estimate (a ResNet keeps ~30 feature maps of its stem's size;
// a ViT ~20 token x dim tensors and the attention maps per block).
static double activation_bytes_per_image(const ModelSpec& s) {
  if (s.is_vit()) {
    const double tokens = std::pow(double(s.img_size) / double(std::max<int64_t>(s.patch, 1)), 2) + 1;
    return 4.0 * double(s.depth) * (20 * tokens * double(s.dim) + 3 * double(s.heads) * tokens * tokens);
  }
  const double side = double(s.img_size) / (s.small_stem ? 1 : 4);
  const double deep = s.arch == "resnet50" ? 4 : s.arch == "resnet34" ? 2 : 1;
  return 4.0 * 30 * deep * double(s.width) * side * side;
}

static double available_memory_bytes() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  double kb = 0;
  while (f >> key >> kb) {
    if (key == "MemAvailable:") return kb * 1024;
    f.ignore(1 << 10, '\n');
  }
  return 0;  // unknown: no check
}

void check_model_fits(const ModelSpec& s, double copies, int64_t batch, const std::string& what) {
  const double avail = available_memory_bytes();
  if (avail <= 0) return;
  const double params = count_parameters(s), weights = 4 * params * copies;
  const double acts = double(batch) * activation_bytes_per_image(s), need = weights + acts;
  const double gib = double(1ull << 30);
  MOCO_USAGE_CHECK(need <= avail,
                   "{} ({}) needs about {:.1f} GiB: {:.3g} parameters x 4 bytes x {:g} copies = {:.1f} GiB{}, but "
                   "this machine has {:.1f} GiB available. Choose a smaller --width / --vit-dim / --vit-depth{}",
                   what, s.describe(), need / gib, params, copies, weights / gib,
                   batch > 0 ? fmt::format(" + activations of {} images ~{:.1f} GiB", batch, acts / gib)
                             : std::string(),
                   avail / gib, batch > 0 ? ", a smaller --batch-size or --image-size" : "");
}

static std::shared_ptr<nn::Module> build_backbone(const ModelSpec& s) {
  if (s.is_vit()) {
    nn::ViTConfig c = nn::ViTConfig::preset(s.arch);
    c.img_size = s.img_size;
    c.patch_size = s.patch;
    c.in_chans = s.in_chans;
    c.embed_dim = s.dim;
    c.depth = s.depth;
    c.num_heads = s.heads;
    c.num_classes = s.num_classes;
    c.stop_grad_conv1 = s.stop_grad_conv1;
    return std::make_shared<nn::VisionTransformer>(c);
  }
  nn::ResNetConfig c;
  c.depth = std::stoi(s.arch.substr(6));
  c.in_channels = s.in_chans;
  c.small_stem = s.small_stem;
  c.width = s.width;
  c.num_classes = s.num_classes;
  c.zero_init_residual = s.zero_init_residual;
  c.stem_default_init = s.stem_default_init;
  return std::make_shared<nn::ResNet>(c);
}

Tensor backbone_features(nn::Module& m, const Tensor& x) {
  if (auto* r = dynamic_cast<nn::ResNet*>(&m)) return r->features(x);
  if (auto* v = dynamic_cast<nn::VisionTransformer*>(&m)) return v->features(x);
  fail("backbone_features: expected a ResNet or a VisionTransformer, got {}", m.type_name());
}

int64_t backbone_feature_width(const nn::Module& m) {
  if (auto* r = dynamic_cast<const nn::ResNet*>(&m)) return r->feature_dim();
  if (auto* v = dynamic_cast<const nn::VisionTransformer*>(&m)) return v->feature_dim();
  fail("backbone_feature_width: expected a ResNet or a VisionTransformer, got {}", m.type_name());
}

// -------------------------------------------------------------- run flags

void add_run_flags(Args& a, const std::string& default_out) {
  a.opt("seed", "0", "seed of the weights, data order, augmentations and shuffles")
      .opt("out", default_out, "run folder: config.json, metrics.jsonl/csv, checkpoint.safetensors")
      .opt("resume", "", "continue a run from its checkpoint (file or run folder); flags not given are the run's")
      .flag("overwrite", "start a new run in an --out that holds one, replacing its checkpoint and metrics")
      .opt("threads", "0", "CPU threads (0: OMP_NUM_THREADS or all cores)")
      .opt("device", "cpu", "cpu | cuda (cuda:N)")
      .opt("stop-after", "0", "stop after this many epochs of this invocation (0: run to --epochs); the schedule "
                              "still spans --epochs, and --resume continues");
}

int64_t last_epoch(const Args& a, int64_t start_epoch, int64_t epochs) {
  const int64_t n = a.integer("stop-after", 0);
  return n > 0 ? std::min(epochs, start_epoch + n) : epochs;
}

static std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:,+%@") ==
                        std::string::npos)
    return s;
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

std::string command_line(const std::string& command, const std::vector<std::string>& argv) {
  std::string s = "moco " + command;
  for (auto& a : argv) s += " " + shell_quote(a);
  return s;
}

std::string checkpoint_file(const std::string& p) {
  if (fs::is_directory(p)) return (fs::path(p) / "checkpoint.safetensors").string();
  return p;
}

static std::string expected_kind(const std::string& command) { return command == "pretrain" ? "moco" : "supervised"; }

std::string describe_checkpoint(const std::map<std::string, std::string>& meta) {
  if (!meta.count("format")) return "a state dict without moco.cpp's run metadata";
  const std::string kind = meta.count("kind") ? meta.at("kind") : "";
  std::string s = kind == "moco" ? "a `moco pretrain` run"
                  : meta.count("command") ? "a `moco " + printable(meta.at("command")) + "` run"
                                          : "a run of unknown kind";
  std::vector<std::string> parts;
  if (meta.count("moco_version")) parts.push_back("MoCo " + printable(meta.at("moco_version")));
  if (meta.count("arch")) {
    try {
      parts.push_back(ModelSpec::from_meta(meta).describe());
    } catch (const Error&) {
      parts.push_back(printable(meta.at("arch")));
    }
  }
  if (meta.count("epoch"))
    parts.push_back("epoch " + printable(meta.at("epoch")) +
                    (meta.count("epochs") ? " of " + printable(meta.at("epochs")) : std::string()));
  if (!parts.empty()) s += " (" + fmt::format("{}", fmt::join(parts, ", ")) + ")";
  return s;
}

static std::string occupied_message(const std::string& out, const std::vector<std::string>& entries) {
  return fmt::format("--out {} already holds files ({}): continue that run with --resume {}, replace it with "
                     "--overwrite, or choose another --out",
                     out, fmt::join(entries, ", "), out);
}

RunSetup setup_run(Args& a, const std::string& command, const std::vector<std::string>& argv,
                   const std::function<void(Args&)>& resolve) {
  RunSetup r;
  std::string original_command;
  r.overwrite = a.on("overwrite");
  if (!a.str("resume").empty()) {
    r.resume_from = checkpoint_file(a.str("resume"));
    MOCO_USAGE_CHECK(fs::is_regular_file(r.resume_from), "--resume: no checkpoint at {}", r.resume_from);
    // What the checkpoint holds decides before anything else: its config.json
    // must not lend its flags to another command.
    r.resume_meta = nn::load_safetensors_metadata(r.resume_from);
    const bool ours = r.resume_meta.count("format") && r.resume_meta.count("kind") &&
                      r.resume_meta.at("kind") == expected_kind(command) &&
                      (command == "pretrain" ||
                       (r.resume_meta.count("command") && r.resume_meta.at("command") == command));
    MOCO_USAGE_CHECK(ours, "--resume {}: the checkpoint holds {}, not a `moco {}` run{}", a.str("resume"),
                     describe_checkpoint(r.resume_meta), command,
                     r.resume_meta.count("kind") == 0 ? std::string()
                     : r.resume_meta.at("kind") == "moco"
                         ? "; continue it with: moco pretrain --resume " + a.str("resume")
                     : r.resume_meta.count("command")
                         ? "; continue it with: moco " + printable(r.resume_meta.at("command")) + " --resume " +
                               a.str("resume")
                         : std::string());
    const std::string dir = fs::path(r.resume_from).parent_path().string();
    if (!a.given("out")) a.set("out", dir.empty() ? "." : dir);
    const std::string cfg = (fs::path(dir.empty() ? "." : dir) / "config.json").string();
    if (fs::is_regular_file(cfg)) {
      std::ifstream f(cfg);
      std::string text((std::istreambuf_iterator<char>(f)), {});
      nn::Json j = nn::parse_json(text, cfg);
      for (auto& [k, v] : j.members) {
        if (k == "command" && v.kind == nn::Json::Kind::string) original_command = v.s;
        if (k != "command" && k != "out" && k != "resume" && k != "stop-after" && k != "overwrite" && a.has(k) &&
            !a.given(k) && v.kind == nn::Json::Kind::string)
          a.set(k, v.s);
      }
    }
    std::error_code ec;
    r.in_place = fs::equivalent(a.str("out"), dir.empty() ? "." : dir, ec);
    MOCO_USAGE_CHECK(!(r.in_place && r.overwrite),
                     "--overwrite with --resume {} would delete the run it continues: give one of them", a.str("resume"));
  }
  r.out = a.str("out");
  MOCO_USAGE_CHECK(!r.out.empty(), "--out must name a folder");
  if (!r.in_place && !r.overwrite) {
    // Checked again under the lock in open(); here so that a busy folder is
    // refused before the data and the model are built.
    const std::vector<std::string> e = folder_entries(r.out);
    MOCO_USAGE_CHECK(e.empty(), "{}", occupied_message(r.out, e));
  }
  if (resolve) resolve(a);
  const int threads = int(a.integer("threads", 0, 4096));
  if (threads > 0) set_num_threads(threads);
  r.device = Device::parse(a.str("device"));
  if (!r.device.is_cpu()) (void)backend_for(r.device);  // throws a clear error without CUDA or a GPU
  r.seed = uint64_t(a.integer("seed", 0));
  // A resumed run keeps the command that started it; the latest resume is noted beside it.
  r.config = a.values();
  r.config.erase("overwrite");
  if (!original_command.empty()) r.config["resumed_with"] = command_line(command, argv);
  r.command_text = original_command.empty() ? command_line(command, argv) : original_command;
  return r;
}

void RunSetup::check_resumed_model(const ModelSpec& spec) const {
  if (resume_from.empty() || !resume_meta.count("arch")) return;
  std::vector<std::string> diff;
  for (auto& [k, v] : spec.to_meta()) {
    auto it = resume_meta.find(k);
    if (it != resume_meta.end() && it->second != v)
      diff.push_back(fmt::format("{} {} in the checkpoint, {} from the flags", k, printable(it->second), v));
  }
  MOCO_USAGE_CHECK(diff.empty(),
                   "--resume {}: the checkpoint holds {}; the flags ask for {} ({}). Drop the flags that change the "
                   "model, or start a new run with another --out",
                   resume_from, describe_checkpoint(resume_meta), spec.describe(), fmt::join(diff, "; "));
}

RunDir& RunSetup::open() {
  MOCO_CHECK(!dir, "internal: RunSetup::open() called twice");
  lock = std::make_unique<RunLock>(out);
  if (!in_place) {
    if (overwrite) {
      remove_run_files(out);
    } else {
      const std::vector<std::string> e = folder_entries(out);
      MOCO_USAGE_CHECK(e.empty(), "{}", occupied_message(out, e));
    }
  }
  remove_stale_temp_files(out);
  dir = std::make_unique<RunDir>(out);
  dir->write_config(config, command_text);
  return *dir;
}

// ------------------------------------------------------------ checkpoints

int64_t Checkpoint::epoch() const { return meta.count("epoch") ? meta_int(meta, "epoch", 0, 1000000) : 0; }

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  const std::string bad = nn::first_non_finite(c.model);
  MOCO_CHECK(bad.empty(), "the weights are no longer finite after epoch {} ({}); not saving them. {}",
             c.meta.count("epoch") ? c.meta.at("epoch") : "?", bad,
             fs::is_regular_file(path) ? path + " keeps the last good checkpoint: continue from it with --resume, "
                                                "perhaps with a lower --lr"
                                       : std::string("The run has no good checkpoint yet: start again with a lower --lr"));
  nn::NamedTensors all = c.model;
  for (auto& t : nn::add_prefix(c.optimizer, "optimizer.")) all.push_back(t);
  std::map<std::string, std::string> meta = c.meta;
  meta["format"] = "moco.cpp checkpoint";
  nn::save_safetensors(path, all, meta);
}

void PartialEpoch::to_meta(std::map<std::string, std::string>& meta) const {
  if (step == 0) return;
  meta["step_in_epoch"] = std::to_string(step);
  for (auto& [k, v] : sums) meta["partial." + k] = fmt::format("{:.17g}", v);  // exact round trip
}

double PartialEpoch::sum(const std::string& name) const {
  auto it = sums.find(name);
  return it == sums.end() ? 0.0 : it->second;
}

void print_resumed(const std::string& checkpoint, int64_t epoch, const std::map<std::string, std::string>& meta) {
  std::printf("  resumed from %s after epoch %lld%s\n", checkpoint.c_str(), (long long)epoch,
              meta.count("step_in_epoch")
                  ? fmt::format(" and step {} of epoch {}", meta.at("step_in_epoch"), epoch + 1).c_str()
                  : "");
}

PartialEpoch PartialEpoch::from_meta(const std::map<std::string, std::string>& meta, int64_t steps_per_epoch) {
  PartialEpoch p;
  if (!meta.count("step_in_epoch")) return p;
  p.step = meta_int(meta, "step_in_epoch", 0, steps_per_epoch - 1);
  for (auto& [k, v] : meta) {
    if (k.rfind("partial.", 0) != 0) continue;
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    MOCO_CHECK(!v.empty() && *end == 0, "checkpoint metadata '{}' is '{}', expected a number", k,
               printable(v.substr(0, 40)));
    p.sums[k.substr(8)] = x;
  }
  return p;
}

int stopped_run(const std::string& command, const std::string& dir, int64_t epoch, int64_t step, int64_t steps) {
  const int sig = StopSignals::requested();
  std::printf("\nmoco %s: stopped by %s at epoch %lld, step %lld of %lld, checkpoint saved — continue with: "
              "moco %s --resume %s\n",
              command.c_str(), sig == SIGTERM ? "SIGTERM" : "Ctrl-C", (long long)epoch, (long long)step,
              (long long)steps, command.c_str(), dir.c_str());
  std::fflush(stdout);
  return stop_exit_code(sig);
}

Checkpoint load_checkpoint(const std::string& path) {
  nn::SafeTensors st = nn::load_safetensors(checkpoint_file(path));
  Checkpoint c;
  c.meta = st.metadata;
  for (auto& [n, t] : st.tensors) {
    if (n.rfind("optimizer.", 0) == 0) c.optimizer.emplace_back(n.substr(10), t);
    else c.model.emplace_back(n, t);
  }
  const std::string file = checkpoint_file(path);
  try {
    const int64_t epoch = c.epoch();
    if (c.meta.count("epochs")) {
      const int64_t epochs = meta_int(c.meta, "epochs", 1, 1000000);
      MOCO_CHECK(epoch <= epochs, "epoch {} is past the run's {} epochs", epoch, epochs);
    }
  } catch (const Error& e) {
    fail("{}: {}", file, e.what());
  }
  const std::string bad = nn::first_non_finite(c.model);
  MOCO_CHECK(bad.empty(), "{}: the weights are not finite ({}); the run that wrote it had diverged. Use an earlier "
                          "checkpoint", file, bad);
  return c;
}

static bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

static nn::NamedTensors without_head(const nn::NamedTensors& state, const std::vector<std::string>& heads) {
  nn::NamedTensors out;
  for (auto& [n, t] : state) {
    bool head = false;
    for (auto& h : heads) head = head || starts_with(n, h + ".");
    if (!head) out.emplace_back(n, t);
  }
  return out;
}

Pretrained load_pretrained(const std::string& path) {
  Pretrained p;
  p.path = checkpoint_file(path);
  MOCO_CHECK(fs::is_regular_file(p.path), "--pretrained: no checkpoint at {}", p.path);
  Checkpoint c = load_checkpoint(p.path);
  p.meta = c.meta;
  if (p.meta.count("format")) {
    const std::string kind = p.meta.count("kind") ? p.meta.at("kind") : "";
    if (kind == "moco") {
      p.backbone = without_head(nn::strip_prefix(c.model, meta_str(p.meta, "encoder_prefix")), {meta_str(p.meta, "head")});
    } else {
      p.backbone = without_head(c.model, {ModelSpec::from_meta(p.meta).head()});
    }
  } else {
    // A plain state dict: torchvision / timm names, or the official MoCo checkpoints' names.
    p.backbone = c.model;
    for (const char* prefix : {"module.encoder_q.", "encoder_q.", "module.base_encoder.", "base_encoder.", "module."}) {
      nn::NamedTensors s = nn::strip_prefix(c.model, prefix);
      if (!s.empty()) {
        p.backbone = s;
        break;
      }
    }
    p.backbone = without_head(p.backbone, {"fc", "head"});
  }
  MOCO_CHECK(!p.backbone.empty(), "--pretrained {}: no backbone tensors found", p.path);
  return p;
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

void check_finite_loss(double loss, int64_t epoch, int64_t step, int64_t steps_per_epoch, int64_t global_step,
                       const std::string& checkpoint) {
  if (std::isfinite(loss)) return;
  const bool have = !checkpoint.empty() && fs::is_regular_file(checkpoint);
  fail("the loss became {} at epoch {}, step {}/{} (global step {}); stopping. {}", loss, epoch + 1, step + 1,
       steps_per_epoch, global_step + 1,
       have ? "The last good checkpoint is " + checkpoint + " (continue with --resume, perhaps with a lower --lr)"
            : std::string("This run has no checkpoint yet (its first epoch did not finish)"));
}

double top1_correct(const Tensor& logits, const Tensor& labels) {
  std::vector<int64_t> pred = argmax(logits, 1).to(Device::cpu()).to_vector<int64_t>();
  std::vector<int64_t> y = labels.to(Device::cpu()).to_vector<int64_t>();
  double c = 0;
  for (size_t i = 0; i < pred.size() && i < y.size(); ++i) c += pred[i] == y[i];
  return c;
}

std::string fmt_duration(double s) {
  const int64_t t = int64_t(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02}m{:02}s", t / 3600, t / 60 % 60, t % 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{:.1f}s", s);
}

}  // namespace moco::cli
