// Whole MoCo training steps against PyTorch (tests/parity/gen_moco.py): the
// same weights, inputs, queue and shuffle permutations; loss, logits,
// query-side gradients, the queue after enqueue, and both encoders after the
// optimiser and momentum updates. The references are float64 computations
// stored as float32, so the differences measure our float32 error.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "autograd/ops.h"
#include "contrastive/contrastive.h"
#include "nn/nn.h"
#include "nn/nn_fixture.h"  // tests/nn/nn_fixture.h: fixtures and formula_init
#include "optim/optim.h"

using namespace moco;
using namespace moco::contrastive;
using moco::testing::fx;

namespace {

// Tolerance: |a - b| <= rel·max|b| + rel·|b| (check_close_scaled). A MoCo step
// chains a ResNet/ViT forward and backward, normalisation, a softmax over the
// queue and an optimiser step, all in float32.
constexpr double kRel = 2e-4;

// The largest differences seen in one fixture, for the summary line.
struct Worst {
  std::string file;
  double abs = 0, rel = 0;
  std::string abs_what, rel_what;
  int64_t compared = 0;

  // atol = max(rel_tol·max|expected|, atol_floor); rtol = rel_tol.
  void check(const Tensor& actual, const Tensor& expected, const std::string& what, double rel_tol = kRel,
             double atol_floor = 1e-6) {
    const auto a = actual.to_vector<double>(), b = expected.to_vector<double>();
    double scale = 0, d = 0;
    for (size_t i = 0; i < b.size(); ++i) scale = std::max(scale, std::abs(b[i]));
    CloseReport rep = allclose(actual, expected, std::max(rel_tol * scale, atol_floor), rel_tol, file + " " + what);
    CHECK_MESSAGE(rep.ok, rep.message);
    if (a.size() != b.size()) return;
    for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
    // Relative to the tensor's scale (or, for tensors that are ~0, the floor's).
    const double r = d / std::max(scale, atol_floor / rel_tol);
    if (d > abs) abs = d, abs_what = what;
    if (r > rel) rel = r, rel_what = what;
    ++compared;
  }
  void report() const {
    MESSAGE(file << ": " << compared << " tensors; max |diff| " << abs << " (" << abs_what << "), max |diff|/max|ref| "
                 << rel << " (" << rel_what << ")");
  }
};

Tensor f(const std::string& file, const std::string& name) { return fx("moco/" + file, name); }

void load_queue(Queue& q, const Tensor& queue0) {
  q.load_state_dict({{"queue", queue0}, {"queue_ptr", Tensor::zeros({1}, DType::i64)}});
}

void compare_queue(Worst& w, const Queue& q, const std::string& file, const std::string& step) {
  auto st = q.state_dict();
  w.check(st[0].second, f(file, step + "queue"), step + "queue", 1e-5);
  CHECK(st[1].second.item() == f(file, step + "queue_ptr").item());
}

// Every fixture tensor under `prefix` against the model tensor of that name.
// Gradients get an absolute floor on the scale of the largest gradient of the
// model: some are exactly zero in exact arithmetic (the key part of a qkv
// bias, anything ahead of a BatchNorm that only shifts the batch), and their
// float32 values are rounding noise of the gradients around them.
void compare_prefix(Worst& w, const nn::NamedTensors& mine, const std::string& file, const std::string& prefix,
                    size_t expect_at_least) {
  double floor = 1e-6;
  if (prefix.find("grad/") != std::string::npos)
    for (auto& [name, ref] : testing::fixture("moco/" + file))
      if (name.compare(0, prefix.size(), prefix) == 0)
        for (double v : ref.to_vector<double>()) floor = std::max(floor, kRel * std::abs(v));
  size_t n = 0;
  for (auto& [name, ref] : testing::fixture("moco/" + file)) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const Tensor& t = nn::find_tensor(mine, name.substr(prefix.size()), file);
    if (ref.dtype() == DType::i64)
      CHECK_MESSAGE(t.to_vector<int64_t>() == ref.to_vector<int64_t>(), file << " " << name);
    else
      w.check(t, ref, name, kRel, floor);
    ++n;
  }
  CHECK_MESSAGE(n >= expect_at_least, file << ": only " << n << " tensors under " << prefix);
}

nn::NamedTensors grads_of(const nn::NamedTensors& params) {
  nn::NamedTensors out;
  for (auto& [n, p] : params)
    if (p.grad().defined()) out.emplace_back(n, p.grad());
  return out;
}

std::shared_ptr<nn::ResNet> resnet_w8() {
  nn::ResNetConfig rc;
  rc.small_stem = true;
  rc.width = 8;
  rc.num_classes = 0;
  return nn::resnet(18, rc);
}

// Runs the v1/v2 fixture `file`: `steps` steps of SGD(0.06, momentum 0.9, wd 5e-4).
void run_v2(const std::string& file, const MoCoV2Config& cfg, int steps, bool all_grads) {
  MoCoV2 model(resnet_w8(), cfg);
  testing::formula_init(model.query_encoder());
  momentum_update(model.key_encoder(), model.query_encoder(), 0.0);  // θk = θq; buffers stay fresh, as builder.py
  load_queue(model.queue(), f(file, "queue0"));
  optim::SGDConfig sc;
  sc.lr = 0.06;
  sc.momentum = 0.9;
  sc.weight_decay = 5e-4;
  optim::SGD opt({optim::make_group(model.named_parameters())}, sc);
  Worst w;
  w.file = file;
  for (int s = 1; s <= steps; ++s) {
    const std::string p = "step" + std::to_string(s) + "/";
    std::vector<Tensor> perms{f(file, p + "perm0")};
    if (cfg.symmetric) perms.push_back(f(file, p + "perm1"));
    MoCoOutput out = model.forward_views(f(file, p + "x1"), f(file, p + "x2"), perms);
    w.check(out.loss, f(file, p + "loss"), p + "loss", 1e-5);
    REQUIRE(out.logits.size() == perms.size());
    for (size_t d = 0; d < out.logits.size(); ++d) {
      w.check(out.logits[d], f(file, p + "logits" + std::to_string(d)), p + "logits" + std::to_string(d));
      CHECK(out.labels[d].to_vector<int64_t>() == std::vector<int64_t>(8, 0));
    }
    compare_queue(w, model.queue(), file, p);
    opt.zero_grad();
    out.loss.backward();
    if (s == 1) compare_prefix(w, grads_of(model.query_encoder().named_parameters()), file, p + "grad/", all_grads ? 62 : 20);
    for (auto& [n, t] : model.key_encoder().named_parameters()) CHECK_MESSAGE(!t.grad().defined(), n);
    opt.step();
  }
  compare_prefix(w, model.state_dict(), file, "after/", 40);
  w.report();
}

}  // namespace

TEST_CASE("parity: MoCo v2, two steps (MLP head, shuffle + SplitBatchNorm, queue, SGD)") {
  MoCoV2Config cfg = MoCoV2Config::v2();
  cfg.dim = 16;
  cfg.K = 32;
  cfg.m = 0.99;
  cfg.T = 0.2;
  cfg.bn_splits = 2;
  run_v2("v2.safetensors", cfg, 2, true);
}

TEST_CASE("parity: MoCo v1 head with the symmetric loss of the CIFAR demo, one step") {
  MoCoV2Config cfg = MoCoV2Config::v1();
  cfg.dim = 16;
  cfg.K = 32;
  cfg.m = 0.99;
  cfg.T = 0.1;
  cfg.symmetric = true;
  run_v2("v1_sym.safetensors", cfg, 1, false);
}

TEST_CASE("parity: MoCo v3 ViT, two steps (3-layer projector, predictor with last BN, stop_grad_conv1, SGD)") {
  const std::string file = "v3_vit.safetensors";
  nn::ViTConfig vc;
  vc.img_size = 16;
  vc.patch_size = 4;
  vc.embed_dim = 48;
  vc.depth = 2;
  vc.num_heads = 3;
  vc.num_classes = 0;
  vc.stop_grad_conv1 = true;
  MoCoV3Config cfg;
  cfg.dim = 16;
  cfg.mlp_dim = 64;
  cfg.T = 0.2;
  cfg.m = 0.99;
  MoCoV3 model(std::make_shared<nn::VisionTransformer>(vc), cfg);
  auto init = testing::fx_prefix("moco/" + file, "init/");
  model.query_encoder().load_state_dict(nn::strip_prefix(init, "base_encoder."), true);
  model.predictor().load_state_dict(nn::strip_prefix(init, "predictor."), true);
  momentum_update(model.key_encoder(), model.query_encoder(), 0.0);
  optim::SGDConfig sc;  // not AdamW: see gen_v3_vit in tests/parity/gen_moco.py
  sc.lr = 0.05;
  sc.momentum = 0.9;
  sc.weight_decay = 1e-4;
  optim::SGD opt({optim::make_group(model.named_parameters())}, sc);
  Worst w;
  w.file = file;
  for (int s = 1; s <= 2; ++s) {
    const std::string p = "step" + std::to_string(s) + "/";
    MoCoOutput out = model.forward_views(f(file, p + "x1"), f(file, p + "x2"));
    w.check(out.loss, f(file, p + "loss"), p + "loss", 1e-5);
    REQUIRE(out.logits.size() == 2);
    w.check(out.logits[0], f(file, p + "logits0"), p + "logits0");
    w.check(out.logits[1], f(file, p + "logits1"), p + "logits1");
    CHECK(out.labels[0].to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7});
    opt.zero_grad();
    out.loss.backward();
    if (s == 1) compare_prefix(w, grads_of(model.named_parameters()), file, p + "grad/", 30);
    CHECK(!model.query_encoder().child("patch_embed").named_parameters()[0].second.grad().defined());
    opt.step();
  }
  compare_prefix(w, model.state_dict(), file, "after/", 80);
  w.report();
}

TEST_CASE("parity: MoCo v3 ResNet, one step (2-layer projector, predictor without last BN, LARS)") {
  const std::string file = "v3_resnet.safetensors";
  MoCoV3Config cfg;
  cfg.dim = 16;
  cfg.mlp_dim = 32;
  cfg.T = 1.0;
  cfg.m = 0.99;
  MoCoV3 model(resnet_w8(), cfg);
  testing::formula_init(model.query_encoder());
  testing::formula_init(model.predictor());
  momentum_update(model.key_encoder(), model.query_encoder(), 0.0);
  optim::LARSConfig lc;
  lc.lr = 0.6;
  lc.weight_decay = 1e-6;
  lc.momentum = 0.9;
  optim::LARS opt({optim::make_group(model.named_parameters())}, lc);
  Worst w;
  w.file = file;
  MoCoOutput out = model.forward_views(f(file, "step1/x1"), f(file, "step1/x2"));
  w.check(out.loss, f(file, "step1/loss"), "step1/loss", 1e-5);
  w.check(out.logits[0], f(file, "step1/logits0"), "step1/logits0");
  w.check(out.logits[1], f(file, "step1/logits1"), "step1/logits1");
  opt.zero_grad();
  out.loss.backward();
  compare_prefix(w, grads_of(model.named_parameters()), file, "step1/grad/", 20);
  opt.step();
  compare_prefix(w, model.state_dict(), file, "after/", 40);
  w.report();
}
