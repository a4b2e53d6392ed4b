// MoCo v1/v2/v3 models: the official structure and names, what one step does
// (EMA, keys without grad, enqueue), errors, checkpoints and determinism.
#include <doctest/doctest.h>

#include <cmath>
#include <tuple>

#include "autograd/ops.h"
#include "contrastive/contrastive.h"
#include "nn/nn.h"
#include "nn/sync_batchnorm.h"
#include "test_util.h"

using namespace moco;
using namespace moco::contrastive;

namespace {

std::shared_ptr<nn::ResNet> tiny_resnet(int64_t in_channels = 3) {
  nn::ResNetConfig rc;
  rc.small_stem = true;
  rc.width = 4;
  rc.in_channels = in_channels;
  rc.num_classes = 0;
  return nn::resnet(18, rc);
}

std::shared_ptr<nn::VisionTransformer> tiny_vit(bool stop_grad_conv1) {
  nn::ViTConfig vc;
  vc.img_size = 8;
  vc.patch_size = 4;
  vc.embed_dim = 16;
  vc.depth = 1;
  vc.num_heads = 2;
  vc.num_classes = 0;
  vc.stop_grad_conv1 = stop_grad_conv1;
  return std::make_shared<nn::VisionTransformer>(vc);
}

MoCoV2Config small_v2() {
  MoCoV2Config c = MoCoV2Config::v2();
  c.dim = 8;
  c.K = 16;
  c.m = 0.9;
  c.bn_splits = 2;
  c.shuffle_seed = 3;
  return c;
}

bool has(const nn::NamedTensors& st, const std::string& name, const Shape& shape = {}) {
  for (auto& [n, t] : st)
    if (n == name) return shape.empty() || t.shape() == shape;
  return false;
}

Tensor images(int64_t n, uint64_t seed, int64_t size = 8) { return testing::rnd({n, 3, size, size}, seed, DType::f32); }

}  // namespace

TEST_CASE("MoCo v1/v2: builder.py's structure, names and presets") {
  CHECK(MoCoV2Config::v1().T == 0.07);
  CHECK(MoCoV2Config::v1().K == 65536);
  CHECK(MoCoV2Config::v1().m == 0.999);
  CHECK(!MoCoV2Config::v1().mlp);
  CHECK(MoCoV2Config::v2().mlp);
  CHECK(MoCoV2Config::v2().T == 0.2);

  nn::manual_seed(1);
  MoCoV2 v2(tiny_resnet(), small_v2());
  CHECK(v2.version() == "v2");
  CHECK(v2.head_name() == "fc");
  auto st = v2.state_dict();
  CHECK(has(st, "encoder_q.conv1.weight", {4, 3, 3, 3}));
  CHECK(has(st, "encoder_q.fc.0.weight", {32, 32}));
  CHECK(has(st, "encoder_q.fc.0.bias", {32}));
  CHECK(has(st, "encoder_q.fc.2.weight", {8, 32}));
  CHECK(has(st, "encoder_k.fc.2.bias", {8}));
  CHECK(has(st, "encoder_k.layer4.1.bn2.running_var", {32}));
  CHECK(st.front().first == "encoder_q.conv1.weight");  // encoder_q first, as builder.py registers it
  CHECK(v2.query_encoder().child("bn1").type_name() == "SplitBatchNorm");
  CHECK(v2.key_encoder().child("bn1").type_name() == "SplitBatchNorm");
  for (auto& [n, p] : v2.key_encoder().named_parameters()) CHECK_MESSAGE(!p.requires_grad(), n);
  for (auto& [n, p] : v2.query_encoder().named_parameters()) CHECK_MESSAGE(p.requires_grad(), n);
  // The key encoder starts as an exact copy.
  auto qs = v2.query_encoder().state_dict(), ks = v2.key_encoder().state_dict();
  for (size_t i = 0; i < qs.size(); ++i) CHECK_CLOSE(ks[i].second, qs[i].second, 0, 0);
  CHECK(v2.queue().size() == 16);
  CHECK(v2.queue().dim() == 8);

  MoCoV2Config c1 = small_v2();
  c1.mlp = false;
  c1.bn_splits = 1;
  MoCoV2 v1(tiny_resnet(), c1);
  CHECK(v1.version() == "v1");
  CHECK(has(v1.state_dict(), "encoder_q.fc.weight", {8, 32}));
  CHECK(v1.query_encoder().child("bn1").type_name() == "BatchNorm2d");

  // The pretrained backbone: everything but the head, loadable into a plain ResNet.
  auto bb = v2.backbone_state_dict();
  for (auto& [n, t] : bb) CHECK_MESSAGE(n.rfind("fc.", 0) != 0, n);
  auto plain = tiny_resnet();
  plain->load_state_dict(bb, true);
  CHECK(bb.size() == plain->state_dict().size());
}

TEST_CASE("MoCo v2 step: EMA before the keys, keys without grad, logits [N, 1+K], enqueue") {
  nn::manual_seed(2);
  MoCoV2 model(tiny_resnet(), small_v2());
  model.train();
  // Make the key encoder differ from the query encoder, to see the EMA.
  {
    NoGradGuard g;
    for (auto& [n, p] : model.key_encoder().named_parameters()) p.mul_(0.5);
  }
  std::vector<Tensor> k_before, q_before;
  for (auto& [n, p] : model.key_encoder().named_parameters()) k_before.push_back(p.clone());
  for (auto& [n, p] : model.query_encoder().named_parameters()) q_before.push_back(p.clone());
  const Tensor queue_before = model.queue().keys().clone();

  MoCoOutput out = model.forward_views(images(4, 10), images(4, 11));
  REQUIRE(out.loss.defined());
  CHECK(out.loss.numel() == 1);
  CHECK(std::isfinite(out.loss.item()));
  REQUIRE(out.logits.size() == 1);
  CHECK(out.logits[0].shape() == Shape{4, 17});
  CHECK(out.labels[0].to_vector<int64_t>() == std::vector<int64_t>{0, 0, 0, 0});
  // The negatives are the queue before this step's enqueue.
  CHECK(model.queue().ptr() == 4);
  CHECK_CLOSE(model.queue().keys().narrow(0, 4, 12), queue_before.narrow(0, 4, 12), 0, 0);
  CHECK_CLOSE(sqrt(sum(mul(model.queue().keys(), model.queue().keys()), {1})), Tensor::ones({16}), 1e-5, 0);
  // θk = 0.9·θk + 0.1·θq for every parameter.
  auto kp = model.key_encoder().named_parameters();
  for (size_t i = 0; i < kp.size(); ++i) {
    INFO(kp[i].first);
    CHECK_CLOSE(kp[i].second, add(mul(k_before[i], 0.9), mul(q_before[i], 0.1)), 1e-6, 1e-5);
  }
  // Gradients reach the query encoder only.
  out.loss.backward();
  for (auto& [n, p] : model.query_encoder().named_parameters()) CHECK_MESSAGE(p.grad().defined(), n);
  for (auto& [n, p] : model.key_encoder().named_parameters()) CHECK_MESSAGE(!p.grad().defined(), n);
  // The enqueued keys are the positives of the logits: l_pos·T = q·k for unit q, k,
  // and the keys came from the key encoder with no graph attached.
  CHECK(!model.queue().keys().requires_grad());
}

TEST_CASE("MoCo v2: the query gradient uses the queue as it was before the enqueue") {
  nn::manual_seed(3);
  MoCoV2Config c = small_v2();
  c.bn_splits = 1;
  MoCoV2 model(tiny_resnet(), c);
  const Tensor queue_before = model.queue().keys().clone();
  Tensor x1 = images(4, 20), x2 = images(4, 21);
  auto perm = std::vector<Tensor>{Tensor::from_vector(std::vector<int64_t>{2, 0, 3, 1}, {4})};
  auto twin = std::static_pointer_cast<MoCoV2>(model.clone());
  MoCoOutput out = model.forward_views(x1, x2, perm);
  out.loss.backward();
  // The same step by hand on the clone, with the loss against the saved queue.
  momentum_update(twin->key_encoder(), twin->query_encoder(), c.m);
  Tensor q = normalize(twin->query_encoder().forward(x1), 1);
  Tensor k;
  {
    NoGradGuard g;
    BatchShuffle s = batch_shuffle_from(perm[0]);
    k = unshuffle_batch(normalize(twin->key_encoder().forward(shuffle_batch(x2, s)), 1), s);
  }
  ContrastiveLoss ref = infonce_loss(q, k, queue_before, c.T);
  CHECK(out.loss.item() == doctest::Approx(ref.loss.item()).epsilon(1e-6));
  ref.loss.backward();
  auto a = model.query_encoder().named_parameters(), b = twin->query_encoder().named_parameters();
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    CHECK_CLOSE(a[i].second.grad(), b[i].second.grad(), 1e-6, 1e-4);
  }
}

TEST_CASE("MoCo v2 shuffle_bn off: keys in the batch's own order, the same BN groups as the queries") {
  // m = 0 makes the key encoder the query encoder after the update, and the
  // same images go to both: any difference between q and k then comes from
  // the BN groups (2 splits) the samples sit in.
  auto run = [](bool shuffle) {
    nn::manual_seed(6);
    MoCoV2Config c = small_v2();
    c.mlp = false;
    c.m = 0;
    c.K = 32;
    c.shuffle_bn = shuffle;
    auto model = std::make_shared<MoCoV2>(tiny_resnet(), c);
    model->train();
    const uint64_t offset = model->shuffle_generator().offset();
    Tensor x = images(8, 40);
    MoCoOutput out = model->forward_views(x, x);
    return std::make_tuple(model, out, offset, x);
  };
  auto [off, out_off, offset_off, x] = run(false);
  // Unshuffled: k is encoder_k on the batch as it came, so it equals q.
  CHECK_CLOSE(out_off.k[0], out_off.q[0], 1e-5, 1e-5);
  {
    NoGradGuard g;
    CHECK_CLOSE(out_off.k[0], normalize(off->key_encoder().forward(x), 1), 1e-6, 1e-6);
  }
  CHECK(off->shuffle_generator().offset() == offset_off);  // no permutation drawn
  CHECK_THROWS_CONTAINS(off->forward_views(x, x, {Tensor::arange(0, 8, 1, DType::i64)}), "shuffle-BN off");

  // Shuffled: the same weights and images, but the key's BN groups differ from the query's.
  auto [on, out_on, offset_on, x_on] = run(true);
  (void)x_on;
  CHECK(on->shuffle_generator().offset() != offset_on);
  CHECK_CLOSE(out_on.q[0], out_off.q[0], 1e-6, 1e-6);
  const double gap = amax(abs(sub(out_on.k[0], out_on.q[0]))).item();
  CHECK(gap > 1e-3);
}

TEST_CASE("MoCo v2 symmetric loss: two directions, 2N keys enqueued, K % 2N checked") {
  nn::manual_seed(4);
  MoCoV2Config c = small_v2();
  c.symmetric = true;
  MoCoV2 model(tiny_resnet(), c);
  MoCoOutput out = model.forward_views(images(4, 30), images(4, 31));
  CHECK(out.logits.size() == 2);
  CHECK(model.queue().ptr() == 8);
  CHECK_THROWS_CONTAINS(model.forward_views(images(6, 30), images(6, 31)),
                        "K = 16 must be a multiple of the keys enqueued per step (12");
  CHECK_THROWS_CONTAINS(model.forward_views(images(4, 30), images(4, 31), {Tensor::arange(0, 4, 1, DType::i64)}),
                        "1 shuffles given, expected 2");
}

TEST_CASE("MoCo v2 errors name the flag to change") {
  nn::manual_seed(5);
  MoCoV2 model(tiny_resnet(), small_v2());
  CHECK_THROWS_CONTAINS(model.forward_views(images(3, 1), images(3, 2)), "choose --moco-k and --batch-size");
  CHECK_THROWS_CONTAINS(model.forward_views(images(4, 1), images(4, 2, 16)), "the two views differ in shape");
  MoCoV2Config c = small_v2();
  c.bn_splits = 4;
  MoCoV2 split4(tiny_resnet(), c);
  CHECK_THROWS_CONTAINS(split4.forward_views(images(2, 1), images(2, 2)), "not a multiple of num_splits 4");
  c.T = 0;
  CHECK_THROWS_CONTAINS(MoCoV2(tiny_resnet(), c), "--moco-t");
  CHECK_THROWS_CONTAINS(MoCoV2(std::make_shared<nn::Linear>(3, 4), small_v2()), "must be a ResNet or a VisionTransformer");
  CHECK_THROWS_CONTAINS(model.set_momentum(1.1), "--moco-m");
}

TEST_CASE("MoCo v2 is deterministic and resumes exactly from checkpoint_state") {
  auto run = [](int steps, const nn::NamedTensors* resume, nn::NamedTensors* save_after) {
    nn::manual_seed(6);
    MoCoV2 model(tiny_resnet(), small_v2());
    if (resume) model.load_checkpoint_state(*resume);
    std::vector<double> losses;
    for (int s = 0; s < steps; ++s) {
      MoCoOutput out = model.forward_views(images(4, 100 + uint64_t(s)), images(4, 200 + uint64_t(s)));
      losses.push_back(out.loss.item());
    }
    if (save_after) {
      *save_after = model.checkpoint_state();
      for (auto& [n, t] : *save_after) t = t.clone();  // a snapshot, as a file would be
    }
    return losses;
  };
  nn::NamedTensors saved;
  auto straight = run(3, nullptr, nullptr);
  CHECK(run(3, nullptr, nullptr) == straight);
  auto first = run(1, nullptr, &saved);
  CHECK(has(saved, "queue", {8, 16}));
  CHECK(has(saved, "queue_ptr", {1}));
  CHECK(has(saved, "shuffle_generator", {2}));
  CHECK(has(saved, "encoder_k.fc.2.weight", {8, 32}));
  // Resume in a fresh model (built from another init) and run the next steps: the
  // images of steps 1 and 2 differ, so compare against a straight run's losses.
  nn::manual_seed(99);
  MoCoV2 resumed(tiny_resnet(), small_v2());
  resumed.load_checkpoint_state(saved);
  CHECK(resumed.queue().ptr() == 4);
  std::vector<double> rest;
  for (int s = 1; s < 3; ++s)
    rest.push_back(resumed.forward_views(images(4, 100 + uint64_t(s)), images(4, 200 + uint64_t(s))).loss.item());
  CHECK(first[0] == straight[0]);
  CHECK(rest[0] == straight[1]);
  CHECK(rest[1] == straight[2]);
  nn::NamedTensors bad = saved;
  bad.back().second = Tensor::zeros({3}, DType::i64);
  CHECK_THROWS_CONTAINS(resumed.load_checkpoint_state(bad), "'shuffle_generator' must be int64 [2]");
  bad.pop_back();  // an official checkpoint: no shuffle generator, the rest loads
  resumed.load_checkpoint_state(bad);
  bad.pop_back();  // no queue_ptr
  CHECK_THROWS_CONTAINS(resumed.load_checkpoint_state(bad), "queue_ptr");
}

TEST_CASE("MoCo v2 clone is independent") {
  nn::manual_seed(7);
  MoCoV2 model(tiny_resnet(), small_v2());
  auto copy = std::static_pointer_cast<MoCoV2>(model.clone());
  model.forward_views(images(4, 1), images(4, 2));
  CHECK(copy->queue().ptr() == 0);
  CHECK(model.queue().ptr() == 4);
  CHECK(copy->state_dict().size() == model.state_dict().size());
  CHECK(!copy->state_dict()[0].second.same(model.state_dict()[0].second));
  CHECK(copy->query_encoder().child("bn1").type_name() == "SplitBatchNorm");
}

TEST_CASE("MoCo v3 ViT: 3-layer projector, predictor with last BN, no grad into the frozen patch projection") {
  nn::manual_seed(8);
  MoCoV3Config c;
  c.dim = 8;
  c.mlp_dim = 12;
  c.T = 0.2;
  MoCoV3 model(tiny_vit(true), c);
  CHECK(model.version() == "v3");
  CHECK(model.head_name() == "head");
  auto st = model.state_dict();
  CHECK(has(st, "base_encoder.head.0.weight", {12, 16}));
  CHECK(has(st, "base_encoder.head.1.weight", {12}));
  CHECK(has(st, "base_encoder.head.3.weight", {12, 12}));
  CHECK(has(st, "base_encoder.head.6.weight", {8, 12}));
  CHECK(has(st, "base_encoder.head.7.running_mean", {8}));
  CHECK(!has(st, "base_encoder.head.7.weight"));  // last BN without affine
  CHECK(!has(st, "base_encoder.head.0.bias"));    // Linear without bias
  CHECK(has(st, "momentum_encoder.head.7.running_var", {8}));
  CHECK(has(st, "predictor.0.weight", {12, 8}));
  CHECK(has(st, "predictor.3.weight", {8, 12}));
  CHECK(has(st, "predictor.4.running_mean", {8}));  // MoCo_ViT's predictor keeps the last BN
  CHECK(!has(st, "momentum_encoder.predictor.0.weight"));
  CHECK(st.back().first.rfind("predictor.", 0) == 0);  // base_encoder, momentum_encoder, predictor

  const double m = 0.5;
  std::vector<Tensor> k_before;
  for (auto& [n, p] : model.key_encoder().named_parameters()) k_before.push_back(p.clone());
  model.set_momentum(m);
  MoCoOutput out = model.forward_views(images(4, 1), images(4, 2));
  REQUIRE(out.logits.size() == 2);
  CHECK(out.logits[0].shape() == Shape{4, 4});
  CHECK(out.labels[1].to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3});
  CHECK(std::isfinite(out.loss.item()));
  out.loss.backward();
  auto& proj = model.query_encoder().child("patch_embed").child("proj");
  for (auto& [n, p] : proj.named_parameters()) CHECK_MESSAGE(!p.grad().defined(), n);
  CHECK(model.query_encoder().child("blocks").named_parameters()[0].second.grad().defined());
  CHECK(model.predictor().named_parameters()[0].second.grad().defined());
  for (auto& [n, p] : model.key_encoder().named_parameters()) CHECK_MESSAGE(!p.grad().defined(), n);
  // First step: θk = θq before any update, so the EMA leaves it equal to θq.
  auto kp = model.key_encoder().named_parameters(), qp = model.query_encoder().named_parameters();
  for (size_t i = 0; i < kp.size(); ++i) CHECK_CLOSE(kp[i].second, qp[i].second, 1e-7, 1e-6);
  // Backbone for the linear probe / fine-tuning: no head.
  for (auto& [n, t] : model.backbone_state_dict()) CHECK_MESSAGE(n.rfind("head.", 0) != 0, n);
}

TEST_CASE("MoCo v3 ResNet: 2-layer projector, predictor without last BN; overrides") {
  nn::manual_seed(9);
  MoCoV3Config c;
  c.dim = 8;
  c.mlp_dim = 12;
  MoCoV3 model(tiny_resnet(), c);
  CHECK(model.config().T == 1.0);
  CHECK(model.momentum() == 0.99);
  auto st = model.state_dict();
  CHECK(has(st, "base_encoder.fc.0.weight", {12, 32}));
  CHECK(has(st, "base_encoder.fc.3.weight", {8, 12}));
  CHECK(has(st, "base_encoder.fc.4.running_mean", {8}));
  CHECK(!has(st, "base_encoder.fc.6.weight"));
  CHECK(has(st, "predictor.3.weight", {8, 12}));
  CHECK(!has(st, "predictor.4.running_mean"));
  MoCoOutput out = model.forward_views(images(4, 3), images(4, 4));
  CHECK(std::isfinite(out.loss.item()));
  // ctr loss is bounded: 2T·log(N) at chance.
  CHECK(out.loss.item() < 4 * 2 * std::log(4.0));

  c.projector_layers = 3;
  c.predictor_last_bn = MoCoV3Config::LastBN::on;
  MoCoV3 custom(tiny_resnet(), c);
  CHECK(has(custom.state_dict(), "base_encoder.fc.6.weight", {8, 12}));
  CHECK(has(custom.state_dict(), "predictor.4.running_mean", {8}));
}

TEST_CASE("MoCo v3 with SyncBatchNorm: every BatchNorm converted; in a group of one, the same step bit for bit") {
  auto count = [](nn::Module& m, const std::string& type) {
    int64_t n = 0;
    for (auto& [path, mod] : m.named_modules()) n += mod->type_name() == type;
    return n;
  };
  MoCoV3Config c;
  c.dim = 8;
  c.mlp_dim = 12;
  c.m = 0.9;
  nn::manual_seed(12);
  MoCoV3 plain(tiny_resnet(), c);
  nn::manual_seed(12);
  MoCoV3 sync(tiny_resnet(), c);
  auto one = single_process_group();
  sync.set_process_group(one.get());
  const int64_t bn2d = count(plain, "BatchNorm2d"), bn1d = count(plain, "BatchNorm1d");
  CHECK(bn1d == 2 * 2 + 1);  // 2 in each encoder's projector (the last without affine), 1 in the predictor
  CHECK(nn::use_sync_batch_norm(sync, *one) == bn2d + bn1d);  // convert_sync_batchnorm: both encoders, all of them
  CHECK(count(sync, "SyncBatchNorm") == bn2d + bn1d);
  CHECK(count(sync, "BatchNorm2d") + count(sync, "BatchNorm1d") == 0);
  CHECK(sync.predictor().child("1").type_name() == "SyncBatchNorm");
  const nn::NamedTensors a0 = plain.state_dict(), b0 = sync.state_dict();  // the same names: checkpoints load alike
  REQUIRE(a0.size() == b0.size());
  for (size_t i = 0; i < a0.size(); ++i) CHECK(a0[i].first == b0[i].first);
  for (int step = 0; step < 2; ++step) {
    MoCoOutput p = plain.forward_views(images(4, 20 + step), images(4, 30 + step));
    MoCoOutput q = sync.forward_views(images(4, 20 + step), images(4, 30 + step));
    p.loss.backward();
    q.loss.backward();
    CHECK(p.loss.item() == q.loss.item());
  }
  const nn::NamedTensors a = plain.state_dict(), b = sync.state_dict();
  for (size_t i = 0; i < a.size(); ++i) CHECK_CLOSE(a[i].second, b[i].second, 0, 0);
  const nn::NamedTensors pa = plain.named_parameters(), pb = sync.named_parameters();
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    REQUIRE(pa[i].second.grad().defined() == pb[i].second.grad().defined());
    if (pa[i].second.grad().defined()) CHECK_CLOSE(pa[i].second.grad(), pb[i].second.grad(), 0, 0);
  }
}

TEST_CASE("MoCo forward(x) is the query encoder's output") {
  nn::manual_seed(10);
  MoCoV2 model(tiny_resnet(), small_v2());
  model.eval();
  Tensor x = images(2, 5);
  CHECK_CLOSE(model.forward(x), model.query_encoder().forward(x), 0, 0);
  CHECK(model.forward(x).shape() == Shape{2, 8});
}

TEST_CASE("MoCo takes any nn::Backbone and refuses other modules by name") {
  std::shared_ptr<nn::Module> seq = std::make_shared<nn::Sequential>();
  CHECK_THROWS_CONTAINS(MoCoV2(seq, small_v2()),
                        "MoCo: the backbone must be a ResNet or a VisionTransformer (an nn::Backbone), got a "
                        "Sequential");
  CHECK_THROWS_CONTAINS(MoCoV3(seq, MoCoV3Config{}), "MoCo v3: the backbone must be");
  CHECK_THROWS_CONTAINS(MoCoV2(nullptr, small_v2()), "got none (null)");
  // The encoders are Backbones: their features are the backbone's, before MoCo's head.
  nn::manual_seed(2);
  MoCoV2 v2(tiny_resnet(), small_v2());
  const Tensor x = images(4, 5);  // 2 per BN split
  CHECK(v2.query_encoder().features(x).shape() == Shape{4, v2.query_encoder().feature_dim()});
  CHECK(v2.key_encoder().family() == "resnet");
  MoCoV3Config c3;
  c3.dim = 8;
  c3.mlp_dim = 16;
  MoCoV3 v3(tiny_vit(false), c3);
  CHECK(v3.query_encoder().features(x).shape() == Shape{4, 16});
  CHECK(v3.head_name() == "head");
}
