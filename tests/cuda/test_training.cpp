// Whole training steps on the GPU against the CPU, same weights and inputs:
// supervised ResNet-18 (SGD with momentum and weight decay) and ViT (AdamW),
// one MoCo v2 step (queue, shuffle-BN with split BN, EMA, enqueue) and one
// MoCo v3 step (predictor, symmetric loss, EMA). The loss, every gradient,
// every parameter and buffer after the step, and the MoCo queue must agree.
#include <memory>

#include "contrastive/contrastive.h"
#include "cuda_test_util.h"
#include "nn/nn.h"
#include "optim/optim.h"

using namespace moco;
using namespace moco::testing;

namespace {

template <class M>
std::shared_ptr<M> copy_to_gpu(const M& m) {
  auto c = std::dynamic_pointer_cast<M>(m.clone());
  REQUIRE(static_cast<bool>(c));
  c->to(gpu());
  return c;
}

void compare_tensors(const nn::NamedTensors& g, const nn::NamedTensors& c, Tol tol, const std::string& what) {
  REQUIRE(g.size() == c.size());
  for (size_t i = 0; i < g.size(); ++i) {
    CHECK(g[i].first == c[i].first);
    const Tensor& tg = g[i].second;
    const Tensor& tc = c[i].second;
    if (!tg.defined() || !tc.defined()) {
      CHECK_MESSAGE(tg.defined() == tc.defined(), what << " " << c[i].first << ": defined on one device only");
      continue;
    }
    auto r = allclose(tg.detach(), tc.detach(), tol.atol, tol.rtol, what + " " + c[i].first);
    INFO(r.message);
    CHECK_MESSAGE(r.ok, what << " " << c[i].first);
  }
}

nn::NamedTensors grads_of(const nn::Module& m) {
  nn::NamedTensors out;
  for (auto& [n, p] : m.named_parameters()) out.emplace_back(n, p.grad());
  return out;
}

std::shared_ptr<nn::ResNet> small_resnet(int64_t width, int64_t classes) {
  nn::ResNetConfig rc;
  rc.small_stem = true;
  rc.width = width;
  rc.num_classes = classes;
  return nn::resnet(18, rc);
}

std::shared_ptr<nn::VisionTransformer> small_vit(int64_t classes, bool stop_grad_conv1) {
  nn::ViTConfig vc;
  vc.img_size = 8;
  vc.patch_size = 4;
  vc.embed_dim = 16;
  vc.depth = 2;
  vc.num_heads = 2;
  vc.num_classes = classes;
  vc.stop_grad_conv1 = stop_grad_conv1;
  return std::make_shared<nn::VisionTransformer>(vc);
}

const Tol kLossTol{1e-5, 1e-4}, kGradTol{2e-4, 2e-3}, kParamTol{2e-5, 2e-4};

// One supervised step on both devices; returns nothing, checks everything.
template <class Model, class Opt, class Cfg>
void supervised_step(const std::shared_ptr<Model>& cpu_model, const Cfg& opt_cfg, const Shape& input) {
  auto gpu_model = copy_to_gpu(*cpu_model);
  cpu_model->train();
  gpu_model->train();
  Opt cpu_opt(cpu_model->parameters(true), opt_cfg), gpu_opt(gpu_model->parameters(true), opt_cfg);
  const Tensor x = rnd(input, 200, DType::f32);
  Generator g(201);
  const Tensor y = randint(0, 10, {input[0]}, g);
  for (int step = 0; step < 2; ++step) {  // two steps: the optimiser state is used in the second
    CAPTURE(step);
    cpu_opt.zero_grad();
    gpu_opt.zero_grad();
    Tensor lc = cross_entropy((*cpu_model)(x), y), lg = cross_entropy((*gpu_model)(x.to(gpu())), y.to(gpu()));
    CHECK_GPU_CPU(lg, lc, kLossTol);
    lc.backward();
    lg.backward();
    compare_tensors(grads_of(*gpu_model), grads_of(*cpu_model), kGradTol, "gradient");
    cpu_opt.step();
    gpu_opt.step();
    compare_tensors(gpu_model->state_dict(), cpu_model->state_dict(), kParamTol, "after the step");
  }
}

}  // namespace

TEST_CASE("a supervised ResNet-18 step with SGD (momentum, weight decay) matches the CPU") {
  SKIP_WITHOUT_CUDA();
  nn::manual_seed(1);
  optim::SGDConfig sc;
  sc.lr = 0.06;
  sc.momentum = 0.9;
  sc.weight_decay = 5e-4;
  supervised_step<nn::ResNet, optim::SGD>(small_resnet(4, 10), sc, {4, 3, 8, 8});
  nn::manual_seed(2);
  supervised_step<nn::ResNet, optim::SGD>(small_resnet(16, 10), sc, {8, 3, 16, 16});
}

TEST_CASE("a supervised ViT step with AdamW matches the CPU") {
  SKIP_WITHOUT_CUDA();
  nn::manual_seed(3);
  optim::AdamWConfig ac;
  ac.lr = 1e-3;
  ac.weight_decay = 0.1;
  supervised_step<nn::VisionTransformer, optim::AdamW>(small_vit(10, false), ac, {4, 3, 8, 8});
}

TEST_CASE("a MoCo v2 step (queue, split shuffle-BN, EMA, enqueue) matches the CPU") {
  SKIP_WITHOUT_CUDA();
  using namespace moco::contrastive;
  nn::manual_seed(4);
  MoCoV2Config cfg = MoCoV2Config::v2();
  cfg.dim = 8;
  cfg.K = 16;
  cfg.m = 0.9;
  cfg.bn_splits = 2;
  auto cpu_model = std::make_shared<MoCoV2>(small_resnet(4, 0), cfg);
  auto gpu_model = copy_to_gpu(*cpu_model);
  optim::SGDConfig sc;
  sc.lr = 0.06;
  sc.momentum = 0.9;
  sc.weight_decay = 5e-4;
  optim::SGD cpu_opt(cpu_model->parameters(true), sc), gpu_opt(gpu_model->parameters(true), sc);
  const Tensor im_q = rnd({4, 3, 8, 8}, 210, DType::f32), im_k = rnd({4, 3, 8, 8}, 211, DType::f32);
  const Tensor shuffle = Tensor::from_vector(std::vector<int64_t>{2, 0, 3, 1}, {4});
  for (int step = 0; step < 2; ++step) {
    CAPTURE(step);
    MoCoOutput oc = cpu_model->forward_views(im_q, im_k, {shuffle});
    MoCoOutput og = gpu_model->forward_views(im_q.to(gpu()), im_k.to(gpu()), {shuffle});
    CHECK_GPU_CPU(og.loss, oc.loss, kLossTol);
    CHECK_GPU_CPU(og.logits[0], oc.logits[0], Tol({1e-4, 1e-4}));
    cpu_opt.zero_grad();
    gpu_opt.zero_grad();
    oc.loss.backward();
    og.loss.backward();
    compare_tensors(grads_of(*gpu_model), grads_of(*cpu_model), kGradTol, "gradient");
    cpu_opt.step();
    gpu_opt.step();
    compare_tensors(gpu_model->state_dict(), cpu_model->state_dict(), kParamTol, "after the step");
    CHECK_GPU_CPU(gpu_model->queue().keys(), cpu_model->queue().keys(), Tol({1e-5, 1e-4}));
    CHECK(gpu_model->queue().ptr() == cpu_model->queue().ptr());
  }
}

TEST_CASE("a MoCo v3 ViT step (predictor, symmetric loss, EMA) matches the CPU") {
  SKIP_WITHOUT_CUDA();
  using namespace moco::contrastive;
  nn::manual_seed(5);
  MoCoV3Config cfg;
  cfg.dim = 8;
  cfg.mlp_dim = 16;
  cfg.T = 0.2;
  auto cpu_model = std::make_shared<MoCoV3>(small_vit(0, true), cfg);
  auto gpu_model = copy_to_gpu(*cpu_model);
  optim::AdamWConfig ac;
  ac.lr = 1.5e-4;
  ac.weight_decay = 0.1;
  optim::AdamW cpu_opt(cpu_model->parameters(true), ac), gpu_opt(gpu_model->parameters(true), ac);
  const Tensor x1 = rnd({6, 3, 8, 8}, 220, DType::f32), x2 = rnd({6, 3, 8, 8}, 221, DType::f32);
  for (int step = 0; step < 2; ++step) {
    CAPTURE(step);
    MoCoOutput oc = cpu_model->forward_views(x1, x2, 0.99);
    MoCoOutput og = gpu_model->forward_views(x1.to(gpu()), x2.to(gpu()), 0.99);
    CHECK_GPU_CPU(og.loss, oc.loss, kLossTol);
    cpu_opt.zero_grad();
    gpu_opt.zero_grad();
    oc.loss.backward();
    og.loss.backward();
    compare_tensors(grads_of(*gpu_model), grads_of(*cpu_model), kGradTol, "gradient");
    cpu_opt.step();
    gpu_opt.step();
    compare_tensors(gpu_model->state_dict(), cpu_model->state_dict(), kParamTol, "after the step");
  }
}
