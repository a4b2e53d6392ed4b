// Module mechanics: dotted names, parameters and buffers, train/eval, deep
// clone (the MoCo key encoder), copy_from, requires_grad, replacing children,
// initialisation schemes, and clear errors.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/ops.h"
#include "nn/nn.h"
#include "nn_fixture.h"

using namespace moco;
using namespace moco::nn;

namespace {
std::shared_ptr<ResNet> tiny_resnet(int64_t classes = 10) {
  ResNetConfig cfg;
  cfg.small_stem = true;
  cfg.width = 4;
  cfg.num_classes = classes;
  return std::make_shared<ResNet>(cfg);
}

std::vector<std::string> names_of(const NamedTensors& v) {
  std::vector<std::string> out;
  for (auto& p : v) out.push_back(p.first);
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}
}  // namespace

TEST_CASE("module: torchvision names, parameters vs buffers, counts") {
  auto m = tiny_resnet();
  auto params = names_of(m->named_parameters());
  auto buffers = names_of(m->named_buffers());
  CHECK(params.front() == "conv1.weight");
  CHECK(contains(params, "layer1.0.conv1.weight"));
  CHECK(contains(params, "layer2.0.downsample.0.weight"));
  CHECK(contains(params, "layer2.0.downsample.1.bias"));
  CHECK(params.back() == "fc.bias");
  CHECK(contains(buffers, "bn1.running_mean"));
  CHECK(contains(buffers, "layer4.1.bn2.num_batches_tracked"));
  CHECK_FALSE(contains(params, "bn1.running_mean"));
  // state_dict: per module, parameters then buffers (PyTorch's order).
  auto sd = names_of(m->state_dict());
  REQUIRE(sd.size() >= 6);
  CHECK(sd[1] == "bn1.weight");
  CHECK(sd[3] == "bn1.running_mean");
  CHECK(sd[5] == "bn1.num_batches_tracked");
  int64_t n = 0;
  for (auto& t : m->parameters()) n += t.numel();
  CHECK(m->num_parameters() == n);
  CHECK(find_tensor(m->state_dict(), "bn1.num_batches_tracked").dtype() == DType::i64);
  CHECK(m->str().find("(layer1): Sequential(") != std::string::npos);
}

TEST_CASE("module: train/eval is recursive and changes BatchNorm's behaviour") {
  auto m = tiny_resnet();
  CHECK(m->is_training());
  m->eval();
  for (auto& [n, sub] : m->named_modules()) CHECK_MESSAGE(!sub->is_training(), n);
  Generator g(3);
  Tensor x = randn({2, 3, 8, 8}, g);
  auto& bn = m->child_as<BatchNorm2d>("bn1");
  Tensor before = bn.running_mean().clone();
  {
    NoGradGuard ng;
    (*m)(x);
  }
  CHECK(allclose(bn.running_mean(), before, 0, 0).ok);  // eval: statistics untouched
  CHECK(bn.num_batches_tracked().item() == 0);
  m->train();
  (*m)(x);
  CHECK_FALSE(allclose(bn.running_mean(), before, 0, 0).ok);
  CHECK(bn.num_batches_tracked().item() == 1);
}

TEST_CASE("module: clone is deep, keeps flags; copy_from copies values") {
  auto q = tiny_resnet();
  q->child("fc").requires_grad_(false);
  q->eval();
  auto k = std::dynamic_pointer_cast<ResNet>(q->clone());
  REQUIRE(k.get() != nullptr);
  CHECK_FALSE(k->is_training());
  auto qs = q->state_dict(), ks = k->state_dict();
  REQUIRE(qs.size() == ks.size());
  for (size_t i = 0; i < qs.size(); ++i) {
    CHECK(qs[i].first == ks[i].first);
    CHECK_FALSE(qs[i].second.storage().get() == ks[i].second.storage().get());  // separate memory
    CHECK(allclose(ks[i].second, qs[i].second, 0, 0).ok);
  }
  CHECK_FALSE(find_tensor(k->named_parameters(), "fc.weight").requires_grad());
  CHECK(find_tensor(k->named_parameters(), "conv1.weight").requires_grad());
  // Changing the clone leaves the original alone.
  Tensor kw = find_tensor(k->named_parameters(), "conv1.weight");
  Tensor qw = find_tensor(q->named_parameters(), "conv1.weight");
  {
    NoGradGuard ng;
    kw.fill_(0.5);
  }
  CHECK(std::abs(qw.to_vector<float>()[0] - 0.5f) > 0);
  // The clone computes what the original computes.
  Generator g(1);
  Tensor x = randn({2, 3, 8, 8}, g);
  NoGradGuard ng;
  auto q2 = tiny_resnet();
  q2->copy_from(*q);
  q2->eval();
  CHECK(allclose((*q2)(x), (*q)(x), 0, 0).ok);
  // copy_from refuses another structure, naming the first difference.
  auto other = tiny_resnet(7);
  CHECK_THROWS_WITH_AS(other->copy_from(*q), doctest::Contains("fc.weight"), Error);
}

TEST_CASE("module: zero_grad, requires_grad_, replace_child, child errors") {
  auto m = tiny_resnet();
  Generator g(2);
  Tensor x = randn({2, 3, 8, 8}, g);
  sum((*m)(x)).backward();
  for (auto& p : m->parameters()) CHECK(p.grad().defined());
  m->zero_grad();
  for (auto& p : m->parameters()) CHECK_FALSE(p.grad().defined());
  m->requires_grad_(false);
  CHECK(m->num_parameters(true) == 0);
  m->requires_grad_(true);
  CHECK(m->num_parameters(true) == m->num_parameters());

  // MoCo v2: the fc becomes an MLP head; names follow nn.Sequential's.
  MlpConfig head;
  head.dims = {m->feature_dim(), m->feature_dim(), 8};
  m->replace_child("fc", build_mlp(head));
  auto names = names_of(m->named_parameters());
  CHECK(contains(names, "fc.0.weight"));
  CHECK(contains(names, "fc.2.bias"));
  CHECK((*m)(x).shape() == Shape{2, 8});
  CHECK_THROWS_WITH_AS(m->child("head"), doctest::Contains("no child module 'head'"), Error);
}

TEST_CASE("module: feature-only models and ViT options") {
  ResNetConfig rc;
  rc.small_stem = true;
  rc.width = 4;
  rc.num_classes = 0;
  rc.in_channels = 1;
  ResNet r(rc);
  Generator g(4);
  CHECK(r(randn({2, 1, 8, 8}, g)).shape() == Shape{2, 32});
  CHECK(r.feature_dim() == 32);
  ViTConfig vc;
  vc.img_size = 8;
  vc.patch_size = 4;
  vc.embed_dim = 12;
  vc.depth = 1;
  vc.num_heads = 3;
  vc.num_classes = 0;
  vc.stop_grad_conv1 = true;
  VisionTransformer v(vc);
  CHECK(v(randn({2, 3, 8, 8}, g)).shape() == Shape{2, 12});
  auto params = v.named_parameters();
  CHECK_FALSE(find_tensor(params, "patch_embed.proj.weight").requires_grad());
  CHECK_FALSE(find_tensor(params, "patch_embed.proj.bias").requires_grad());
  CHECK_FALSE(find_tensor(params, "pos_embed").requires_grad());
  CHECK(find_tensor(params, "cls_token").requires_grad());
  CHECK(find_tensor(params, "blocks.0.attn.qkv.weight").requires_grad());
}

TEST_CASE("init: PyTorch's default and the model schemes have the right bounds and spread") {
  manual_seed(7);
  Linear lin(100, 50);
  auto w = lin.weight().to_vector<float>();
  const double bound = 1.0 / std::sqrt(100.0);
  double mx = 0;
  for (float v : w) mx = std::max(mx, std::abs(double(v)));
  CHECK(mx <= bound);
  CHECK(mx > 0.9 * bound);
  // Seeding makes construction reproducible.
  manual_seed(7);
  Linear again(100, 50);
  CHECK(allclose(again.weight(), lin.weight(), 0, 0).ok);

  // ResNet convs: kaiming normal, fan_out, ReLU gain: std = sqrt(2 / (out * k * k)).
  ResNetConfig rc;
  rc.width = 16;
  rc.small_stem = true;
  rc.zero_init_residual = true;
  ResNet r(rc);
  Tensor cw = find_tensor(r.named_parameters(), "layer3.0.conv2.weight");  // [64, 64, 3, 3]
  auto v = cw.to_vector<float>();
  double s2 = 0;
  for (float x : v) s2 += double(x) * x;
  const double std_measured = std::sqrt(s2 / double(v.size())), std_want = std::sqrt(2.0 / (64 * 9));
  CHECK(std_measured == doctest::Approx(std_want).epsilon(0.03));
  // The small stem's conv1 is kaiming-normal too (16 x 3 x 3 x 3, fan_out 144) unless it keeps
  // PyTorch's default init as the CIFAR-10 demo's: kaiming-uniform a = sqrt(5), bound 1 / sqrt(fan_in 27).
  auto spread = [](const Tensor& t) {
    double q = 0, mx = 0;
    for (float x : t.to_vector<float>()) q += double(x) * x, mx = std::max(mx, std::abs(double(x)));
    return std::make_pair(std::sqrt(q / double(t.numel())), mx);
  };
  // A normal of std 0.118 over 432 weights passes the uniform's bound 0.192 (1.6 std) many times.
  CHECK(spread(find_tensor(r.named_parameters(), "conv1.weight")).second > 1.0 / std::sqrt(27.0));
  rc.stem_default_init = true;
  ResNet demo_stem(rc);
  const auto [s1, m1] = spread(find_tensor(demo_stem.named_parameters(), "conv1.weight"));
  CHECK(m1 <= 1.0 / std::sqrt(27.0));
  CHECK(s1 == doctest::Approx(1.0 / std::sqrt(27.0) / std::sqrt(3.0)).epsilon(0.15));  // uniform: bound / sqrt(3)
  // zero_init_residual: the last BN of each residual branch starts at 0.
  CHECK(sum(abs(find_tensor(r.named_parameters(), "layer1.0.bn2.weight"))).item() == 0);
  CHECK(sum(find_tensor(r.named_parameters(), "layer1.0.bn1.weight")).item() == 16);

  // MoCo v3 ViT: qkv bound sqrt(6 / (dim + dim)), cls token ~1e-6, biases 0.
  ViTConfig vc;
  vc.img_size = 16;
  vc.patch_size = 4;
  vc.embed_dim = 48;
  vc.depth = 1;
  vc.num_heads = 3;
  VisionTransformer vit(vc);
  auto params = vit.named_parameters();
  double qmax = 0;
  for (float x : find_tensor(params, "blocks.0.attn.qkv.weight").to_vector<float>())
    qmax = std::max(qmax, std::abs(double(x)));
  CHECK(qmax <= std::sqrt(6.0 / 96));
  CHECK(qmax > 0.9 * std::sqrt(6.0 / 96));
  CHECK(amax(abs(find_tensor(params, "cls_token"))).item() < 1e-5);
  CHECK(amax(abs(find_tensor(params, "blocks.0.mlp.fc1.bias"))).item() == 0);
  double pmax = 0;
  for (float x : find_tensor(params, "patch_embed.proj.weight").to_vector<float>())
    pmax = std::max(pmax, std::abs(double(x)));
  CHECK(pmax <= std::sqrt(6.0 / (3 * 16 + 48)));
}

TEST_CASE("Dropout: identity in eval and for p = 0, inverted scaling in training") {
  Generator g(5);
  Tensor x = add(rand({4000}, g), 1.0);
  Dropout d(0.25);
  d.eval();
  CHECK(allclose(d(x), x, 0, 0).ok);
  d.train();
  auto y = d(x).to_vector<float>();
  auto xv = x.to_vector<float>();
  int64_t zeros = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    if (y[i] == 0) ++zeros;
    else CHECK(y[i] == doctest::Approx(xv[i] / 0.75));
  }
  CHECK(double(zeros) / double(y.size()) == doctest::Approx(0.25).epsilon(0.15));
  Dropout none(0.0);
  CHECK(allclose(none(x), x, 0, 0).ok);
}

TEST_CASE("layers: clear errors for bad configurations and inputs") {
  CHECK_THROWS_WITH_AS(Linear(0, 3), doctest::Contains("Linear"), Error);
  CHECK_THROWS_WITH_AS(Attention(10, 3), doctest::Contains("not divisible by num_heads"), Error);
  CHECK_THROWS_WITH_AS(ResNet([] { ResNetConfig c; c.depth = 20; return c; }()), doctest::Contains("18, 34 or 50"),
                       Error);
  BatchNorm2d bn(4);
  Generator g(1);
  CHECK_THROWS_WITH_AS(bn(randn({2, 3, 4, 4}, g)), doctest::Contains("3 channels"), Error);
  CHECK_THROWS_WITH_AS(bn(randn({2, 4}, g)), doctest::Contains("4-D input"), Error);
  PatchEmbed pe(8, 4, 3, 12);
  CHECK_THROWS_WITH_AS(pe(randn({1, 3, 9, 9}, g)), doctest::Contains("[B, C, 8, 8]"), Error);
}
