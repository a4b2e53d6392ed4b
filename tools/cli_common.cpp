#include "tools/cli_common.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "autograd/ops.h"
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
  a.opt("image-size", "0", "model input side in pixels (0: the data set's own, 224 above 96 px)")
      .opt("channels", "0", "model input channels (0: 1 for grayscale data, else 3)")
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
    for (auto& s : items) ids.push_back(std::stoll(s));
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

DataSetup open_data(const Args& a, double train_fraction, uint64_t seed, bool want_val) {
  DataSetup d;
  const std::string ds = a.str("dataset"), dir = a.str("data");
  d.spec = dir.empty() ? ds : ds + ":" + dir;
  MOCO_CHECK(train_fraction > 0 && train_fraction <= 1, "the training fraction must be in (0, 1], got {}",
             train_fraction);
  data::DatasetPtr train = select_classes(data::open_dataset(d.spec, "train"), a.str("classes"));
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
  if (want_val) d.val = select_classes(data::open_dataset(d.spec, "val"), a.str("classes"));
  data::Image first = d.train->image(0);
  const int side = std::min(first.h, first.w);
  d.size = int(a.integer("image-size", 0, 4096));
  if (d.size == 0) d.size = side <= 96 ? side : 224;
  MOCO_CHECK(d.size >= 8, "--image-size {} is too small (at least 8)", d.size);
  d.channels = int(a.integer("channels", 0, 3));
  if (d.channels == 0) d.channels = first.c == 1 ? 1 : 3;
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

ModelSpec ModelSpec::from_meta(const std::map<std::string, std::string>& meta) {
  auto get = [&](const char* k) {
    auto it = meta.find(k);
    MOCO_CHECK(it != meta.end(), "checkpoint metadata lacks '{}' (not written by moco.cpp?)", k);
    return it->second;
  };
  auto num = [&](const char* k) { return int64_t(std::stoll(get(k))); };
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

std::shared_ptr<nn::Module> make_backbone(const ModelSpec& s) {
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

RunSetup setup_run(Args& a, const std::string& command, const std::vector<std::string>& argv,
                   const std::function<void(Args&)>& resolve) {
  RunSetup r;
  std::string original_command;
  if (!a.str("resume").empty()) {
    r.resume_from = checkpoint_file(a.str("resume"));
    MOCO_CHECK(fs::is_regular_file(r.resume_from), "--resume: no checkpoint at {}", r.resume_from);
    const std::string dir = fs::path(r.resume_from).parent_path().string();
    if (!a.given("out")) a.set("out", dir.empty() ? "." : dir);
    const std::string cfg = (fs::path(dir.empty() ? "." : dir) / "config.json").string();
    if (fs::is_regular_file(cfg)) {
      std::ifstream f(cfg);
      std::string text((std::istreambuf_iterator<char>(f)), {});
      nn::Json j = nn::parse_json(text, cfg);
      for (auto& [k, v] : j.members) {
        if (k == "command" && v.kind == nn::Json::Kind::string) original_command = v.s;
        if (k != "command" && k != "out" && k != "resume" && k != "stop-after" && a.has(k) && !a.given(k) &&
            v.kind == nn::Json::Kind::string)
          a.set(k, v.s);
      }
    }
  }
  if (resolve) resolve(a);
  const int threads = int(a.integer("threads", 0, 4096));
  if (threads > 0) set_num_threads(threads);
  r.device = Device::parse(a.str("device"));
  if (!r.device.is_cpu()) (void)backend_for(r.device);  // throws a clear error without CUDA or a GPU
  r.seed = uint64_t(a.integer("seed", 0));
  r.dir = std::make_unique<RunDir>(a.str("out"));
  // A resumed run keeps the command that started it; the latest resume is noted beside it.
  std::map<std::string, std::string> config = a.values();
  if (!original_command.empty()) config["resumed_with"] = command_line(command, argv);
  r.dir->write_config(config, original_command.empty() ? command_line(command, argv) : original_command);
  return r;
}

// ------------------------------------------------------------ checkpoints

int64_t Checkpoint::epoch() const {
  auto it = meta.find("epoch");
  return it == meta.end() ? 0 : std::stoll(it->second);
}

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  nn::NamedTensors all = c.model;
  for (auto& t : nn::add_prefix(c.optimizer, "optimizer.")) all.push_back(t);
  std::map<std::string, std::string> meta = c.meta;
  meta["format"] = "moco.cpp checkpoint";
  nn::save_safetensors(path, all, meta);
}

Checkpoint load_checkpoint(const std::string& path) {
  nn::SafeTensors st = nn::load_safetensors(checkpoint_file(path));
  Checkpoint c;
  c.meta = st.metadata;
  for (auto& [n, t] : st.tensors) {
    if (n.rfind("optimizer.", 0) == 0) c.optimizer.emplace_back(n.substr(10), t);
    else c.model.emplace_back(n, t);
  }
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
      p.backbone = without_head(nn::strip_prefix(c.model, p.meta.at("encoder_prefix")), {p.meta.at("head")});
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
