// Every layer against PyTorch (tests/parity/gen_nn.py, layers.safetensors):
// the layer loads PyTorch's state dict by name (strict), runs forward on the
// same input, backward of sum(y * w); output, input gradient, parameter
// gradients and updated buffers are compared, in train and eval mode.
#include <doctest/doctest.h>

#include <functional>

#include "autograd/ops.h"
#include "nn/nn.h"
#include "nn_fixture.h"

using namespace moco;
using namespace moco::nn;
using moco::testing::fx;
using moco::testing::fx_prefix;

namespace {

const char* kFile = "nn/layers.safetensors";

void run_layer_case(const std::string& c, Module& m, bool train, double rel = 2e-5) {
  CAPTURE(c);
  m.load_state_dict(fx_prefix(kFile, c + "/state/"));  // strict: our names are PyTorch's
  m.train(train);
  Tensor x = fx(kFile, c + "/x").clone().requires_grad_();
  Tensor y = m(x);
  testing::check_close_scaled(y, fx(kFile, c + "/y"), rel, c + " output");
  sum(mul(y, fx(kFile, c + "/w"))).backward();
  testing::check_close_scaled(x.grad(), fx(kFile, c + "/dx"), rel, c + " input grad");
  auto grads = fx_prefix(kFile, c + "/grad/");
  int64_t trainable = 0;
  for (auto& [n, p] : m.named_parameters()) {
    if (!p.requires_grad()) continue;
    ++trainable;
    Tensor g = p.grad();
    REQUIRE_MESSAGE(g.defined(), c << ": no gradient for " << n);
    testing::check_close_scaled(g, find_tensor(grads, n, c + " grads"), rel, c + " grad of " + n);
  }
  CHECK(int64_t(grads.size()) == trainable);
  for (auto& [n, b] : m.named_buffers()) {
    Tensor want = find_tensor(fx_prefix(kFile, c + "/state_after/"), n, c + " buffers");
    if (b.dtype() == DType::i64)
      CHECK_MESSAGE(b.item() == want.item(), c << ": " << n << " = " << b.item() << ", PyTorch " << want.item());
    else
      testing::check_close_scaled(b, want, rel, c + " buffer " + n);
  }
}

template <class M, class... A>
void layer_case(const std::string& c, bool train, A&&... args) {
  M m(std::forward<A>(args)...);
  run_layer_case(c, m, train);
}

}  // namespace

TEST_CASE("parity: Linear") {
  layer_case<Linear>("linear", true, 7, 5);
  layer_case<Linear>("linear_3d", true, 7, 5);
  layer_case<Linear>("linear_nobias", true, 6, 4, false);
}

TEST_CASE("parity: Conv2d (stride, padding, 1x1, groups, 7x7 stem)") {
  layer_case<Conv2d>("conv", true, 3, 4, 3, 2, 1, true);
  layer_case<Conv2d>("conv_1x1_nobias", true, 4, 6, 1, 1, 0, false);
  Conv2dConfig g;
  g.in_channels = 4;
  g.out_channels = 6;
  g.kernel_size = 3;
  g.padding = 1;
  g.groups = 2;
  layer_case<Conv2d>("conv_groups", true, g);
  layer_case<Conv2d>("conv_7x7_s2", true, 3, 4, 7, 2, 3, false);
}

TEST_CASE("parity: BatchNorm2d and BatchNorm1d, train and eval") {
  BatchNormConfig noaffine;
  noaffine.affine = false;
  BatchNormConfig notrack;
  notrack.track_running_stats = false;
  for (bool train : {true, false}) {
    const std::string tag = train ? "train" : "eval";
    layer_case<BatchNorm2d>("bn2d_" + tag, train, 4);
    layer_case<BatchNorm2d>("bn2d_noaffine_" + tag, train, 4, noaffine);
    layer_case<BatchNorm1d>("bn1d_" + tag, train, 6);
    layer_case<BatchNorm1d>("bn1d_3d_" + tag, train, 6);
    layer_case<BatchNorm1d>("bn1d_notrack_" + tag, train, 6, notrack);
  }
}

TEST_CASE("parity: LayerNorm, ReLU, GELU, pools, Flatten") {
  layer_case<LayerNorm>("layernorm", true, 8, 1e-6);
  layer_case<ReLU>("relu", true);
  layer_case<GELU>("gelu", true);
  layer_case<MaxPool2d>("maxpool_3_2_1", true, 3, 2, 1);
  layer_case<MaxPool2d>("maxpool_2", true, 2);
  layer_case<AdaptiveAvgPool2d>("avgpool_1", true, 1);
  layer_case<AdaptiveAvgPool2d>("avgpool_3", true, 3);
  layer_case<Flatten>("flatten", true);
}

TEST_CASE("parity: Attention, Mlp, Block, PatchEmbed") {
  layer_case<Attention>("attention", true, 12, 3, true);
  layer_case<Attention>("attention_nobias", true, 12, 4, false);
  layer_case<Mlp>("mlp", true, 12, 48);
  layer_case<Block>("block", true, 12, 3);
  layer_case<PatchEmbed>("patch_embed", true, 8, 4, 3, 12);
}

TEST_CASE("parity: MLP heads (MoCo v2 head, MoCo v3 projector and predictor)") {
  for (bool train : {true, false}) {
    const std::string tag = train ? "train" : "eval";
    auto proj = build_mlp_v3(3, 10, 16, 6, true);
    run_layer_case("mlp_v3_" + tag, *proj, train);
    auto pred = build_mlp_v3(2, 6, 16, 6, false);
    run_layer_case("mlp_v3_pred_" + tag, *pred, train);
  }
  MlpConfig v2;
  v2.dims = {10, 12, 6};
  run_layer_case("mlp_v2", *build_mlp(v2), true);
}

TEST_CASE("parity: 2-D sin-cos position embedding (MoCo v3)") {
  for (auto [name, h, w, d] : std::vector<std::tuple<const char*, int, int, int>>{
           {"sincos/4x4x48", 4, 4, 48}, {"sincos/2x3x8", 2, 3, 8}, {"sincos/8x8x192", 8, 8, 192}}) {
    CAPTURE(name);
    Tensor pe = sincos_pos_embed_2d(h, w, d);
    MOCO_CHECK_CLOSE(pe, fx(kFile, name), 1e-6, 1e-6, name);
  }
}
