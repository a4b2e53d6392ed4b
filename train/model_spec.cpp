#include "train/model_spec.h"

#include <cmath>
#include <fstream>

#include "nn/init.h"
#include "nn/models/resnet.h"
#include "nn/models/vit.h"
#include "train/checkpoint.h"

namespace moco::train {

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

static std::shared_ptr<nn::Backbone> build_backbone(const ModelSpec& s);

std::shared_ptr<nn::Backbone> make_backbone(const ModelSpec& s) {
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

static std::shared_ptr<nn::Backbone> build_backbone(const ModelSpec& s) {
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


ModelSpec resolve_model_spec(const std::string& arch, const ModelSizes& z, int img_size, int channels,
                             int64_t num_classes) {
  ModelSpec s;
  s.arch = arch;
  s.in_chans = channels;
  s.img_size = img_size;
  s.num_classes = num_classes;
  if (s.is_vit()) {
    nn::ViTConfig c = nn::ViTConfig::preset(s.arch);
    s.patch = z.patch != 0 ? z.patch : img_size >= 96 ? 16 : 4;
    MOCO_CHECK(img_size % s.patch == 0, "--image-size {} is not a multiple of --patch-size {}", img_size, s.patch);
    s.depth = z.depth != 0 ? z.depth : c.depth;
    s.dim = z.dim != 0 ? z.dim : c.embed_dim;
    s.heads = z.heads != 0 ? z.heads : c.num_heads;
    MOCO_CHECK(s.dim % s.heads == 0, "--vit-dim {} is not a multiple of --vit-heads {}", s.dim, s.heads);
    MOCO_CHECK(s.dim % 4 == 0, "--vit-dim {} must be a multiple of 4 (2-D sin-cos position embedding)", s.dim);
  } else {
    MOCO_CHECK(s.arch == "resnet18" || s.arch == "resnet34" || s.arch == "resnet50",
               "unknown --arch '{}' (resnet18, resnet34, resnet50, vit_tiny, vit_small, vit_base)", s.arch);
    s.width = z.width;
    MOCO_CHECK(z.stem == "auto" || z.stem == "small" || z.stem == "imagenet",
               "--stem must be auto, small or imagenet, got '{}'", z.stem);
    s.small_stem = z.stem == "small" || (z.stem == "auto" && img_size <= 64);
  }
  return s;
}

}  // namespace moco::train
