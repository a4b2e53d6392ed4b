// Whole models against PyTorch: ResNet-18 (small stem, width 16) and
// ResNet-50 (width 4) with formula weights, a MoCo v3 ViT with PyTorch's own
// weights; forward and backward from the same weights, and the state-dict
// names/shapes of the real torchvision ResNet-18/34/50 and MoCo v3 ViTs.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "autograd/ops.h"
#include "nn/nn.h"
#include "nn_fixture.h"

using namespace moco;
using namespace moco::nn;
using moco::testing::fx;
using moco::testing::fx_prefix;

namespace {

// Runs forward + backward of sum(y * w) and compares output, input grad and
// every parameter gradient the fixture has.
void check_model(Module& m, const std::string& file, double rel, bool all_grads) {
  Tensor x = fx(file, "x").clone().requires_grad_();
  Tensor y = m(x);
  testing::check_close_scaled(y, fx(file, "y"), rel, file + " output");
  sum(mul(y, fx(file, "w"))).backward();
  testing::check_close_scaled(x.grad(), fx(file, "dx"), rel, file + " input grad");
  auto grads = fx_prefix(file, "grad/");
  size_t compared = 0;
  for (auto& [n, p] : m.named_parameters()) {
    if (!p.requires_grad()) continue;
    bool have = false;
    for (auto& g : grads) have |= g.first == n;
    if (!have) {
      CHECK_MESSAGE(!all_grads, file << ": fixture has no gradient for " << n);
      continue;
    }
    REQUIRE_MESSAGE(p.grad().defined(), n << " has no gradient");
    testing::check_close_scaled(p.grad(), find_tensor(grads, n), rel, file + " grad of " + n);
    ++compared;
  }
  CHECK(compared == grads.size());
}

struct NameEntry {
  std::string name, dtype;
  Shape shape;
};

// names.txt: "<model> <tensor> <dtype> <d0,d1,...>" and "<model> #trainable_parameters <n>"
std::map<std::string, std::vector<NameEntry>> read_names(std::map<std::string, int64_t>& trainable) {
  std::ifstream in(testing::fixture_path("nn/names.txt"));
  REQUIRE(in);
  std::map<std::string, std::vector<NameEntry>> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    std::string model, name, dtype, shape;
    ss >> model >> name >> dtype;
    if (name == "#trainable_parameters") {
      trainable[model] = std::stoll(dtype);
      continue;
    }
    ss >> shape;
    NameEntry e{name, dtype, {}};
    std::stringstream dims(shape);
    for (std::string d; std::getline(dims, d, ',');) e.shape.push_back(std::stoll(d));
    out[model].push_back(e);
  }
  return out;
}

void check_names(const std::string& model, Module& m, const std::vector<NameEntry>& want, int64_t trainable) {
  CAPTURE(model);
  NamedTensors sd = m.state_dict();
  REQUIRE(sd.size() == want.size());
  for (size_t i = 0; i < sd.size(); ++i) {
    CHECK_MESSAGE(sd[i].first == want[i].name, "tensor " << i << ": " << sd[i].first << " vs " << want[i].name);
    CHECK_MESSAGE(sd[i].second.shape() == want[i].shape, sd[i].first << ": " << shape_str(sd[i].second.shape()));
    CHECK(std::string(dtype_name(sd[i].second.dtype())) == want[i].dtype);
  }
  CHECK(m.num_parameters(true) == trainable);
}

}  // namespace

TEST_CASE("parity: ResNet-18, small stem, width 16: forward, backward, running stats, eval") {
  ResNetConfig cfg;
  cfg.small_stem = true;
  cfg.width = 16;
  cfg.num_classes = 10;
  ResNet m(cfg);
  testing::formula_init(m);
  m.train();
  const std::string file = "nn/resnet18_w16.safetensors";
  check_model(m, file, 1e-4, true);
  for (auto& [n, b] : m.named_buffers()) {
    Tensor want = fx(file, "state_after/" + n);
    if (b.dtype() == DType::i64) CHECK(b.item() == want.item());
    else testing::check_close_scaled(b, want, 1e-4, "buffer " + n);
  }
  m.eval();
  NoGradGuard no_grad;
  testing::check_close_scaled(m(fx(file, "x")), fx(file, "y_eval"), 1e-4, "eval output");
}

TEST_CASE("parity: ResNet-50, width 4, 1 input channel, standard stem (Bottleneck)") {
  ResNetConfig cfg;
  cfg.depth = 50;
  cfg.width = 4;
  cfg.in_channels = 1;
  cfg.num_classes = 10;
  ResNet m(cfg);
  testing::formula_init(m);
  check_model(m, "nn/resnet50_w4.safetensors", 1e-4, false);
}

TEST_CASE("parity: MoCo v3 ViT (16 px, patch 4, dim 48, depth 2) from PyTorch's weights") {
  ViTConfig cfg;
  cfg.img_size = 16;
  cfg.patch_size = 4;
  cfg.embed_dim = 48;
  cfg.depth = 2;
  cfg.num_heads = 3;
  cfg.num_classes = 10;
  VisionTransformer m(cfg);
  const std::string file = "nn/vit_mini.safetensors";
  // Our own sin-cos table must equal the one in PyTorch's state dict.
  MOCO_CHECK_CLOSE(m.pos_embed(), fx(file, "state/pos_embed"), 1e-6, 1e-6, "pos_embed");
  m.load_state_dict(fx_prefix(file, "state/"));
  check_model(m, file, 1e-4, true);
  CHECK_FALSE(m.pos_embed().grad().defined());  // fixed, as in MoCo v3
}

TEST_CASE("names: state dicts equal torchvision's ResNet-18/34/50 and MoCo v3's ViTs") {
  std::map<std::string, int64_t> trainable;
  auto names = read_names(trainable);
  init::SkipInitGuard skip;  // only names and shapes matter here
  for (int depth : {18, 34, 50}) {
    ResNetConfig cfg;
    cfg.depth = depth;
    ResNet m(cfg);
    std::string key = "resnet" + std::to_string(depth);
    check_names(key, m, names.at(key), trainable.at(key));
  }
  ResNetConfig cifar;
  cifar.in_channels = 1;
  cifar.small_stem = true;
  cifar.num_classes = 10;
  ResNet rc(cifar);
  check_names("resnet18_cifar_gray", rc, names.at("resnet18_cifar_gray"), trainable.at("resnet18_cifar_gray"));
  ViTConfig small = ViTConfig::small();
  VisionTransformer vs(small);
  check_names("vit_small", vs, names.at("vit_small"), trainable.at("vit_small"));
  ViTConfig tiny = ViTConfig::preset("vit_tiny");
  tiny.img_size = 32;
  tiny.patch_size = 4;
  tiny.num_classes = 10;
  VisionTransformer vt(tiny);
  check_names("vit_tiny_p4_32", vt, names.at("vit_tiny_p4_32"), trainable.at("vit_tiny_p4_32"));
}
