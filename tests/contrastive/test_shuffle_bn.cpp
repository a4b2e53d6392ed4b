// Shuffle-BN on one device: the batch permutation and its inverse, and
// SplitBatchNorm against BatchNorm computed group by group.
#include <doctest/doctest.h>

#include "autograd/ops.h"
#include "contrastive/shuffle_bn.h"
#include "nn/nn.h"
#include "test_util.h"

using namespace moco;
using namespace moco::contrastive;

TEST_CASE("batch shuffle and unshuffle are inverse permutations") {
  Generator g(5);
  BatchShuffle s = random_batch_shuffle(10, g);
  const auto fwd = s.forward.to_vector<int64_t>(), bwd = s.backward.to_vector<int64_t>();
  std::vector<int> seen(10, 0);
  for (int64_t i = 0; i < 10; ++i) {
    ++seen[size_t(fwd[size_t(i)])];
    CHECK(fwd[size_t(bwd[size_t(i)])] == i);  // backward = argsort(forward)
  }
  for (int c : seen) CHECK(c == 1);
  Tensor x = testing::rnd({10, 3}, 2, DType::f32);
  Tensor xs = shuffle_batch(x, s);
  CHECK_CLOSE(xs.select(0, 0), x.select(0, fwd[0]), 0, 0);
  CHECK_CLOSE(unshuffle_batch(xs, s), x, 0, 0);
  // Seeded: the same seed gives the same permutations, in sequence.
  Generator g2(5);
  CHECK(random_batch_shuffle(10, g2).forward.to_vector<int64_t>() == fwd);
  CHECK(random_batch_shuffle(10, g).forward.to_vector<int64_t>() != fwd);
}

TEST_CASE("batch_shuffle_from checks the permutation") {
  BatchShuffle s = batch_shuffle_from(Tensor::from_vector(std::vector<int64_t>{2, 0, 1}, {3}));
  CHECK(s.backward.to_vector<int64_t>() == std::vector<int64_t>{1, 2, 0});
  CHECK_THROWS_CONTAINS(batch_shuffle_from(Tensor::from_vector(std::vector<int64_t>{0, 0, 1}, {3})),
                        "out of range or repeated");
  CHECK_THROWS_CONTAINS(batch_shuffle_from(Tensor::from_vector(std::vector<int64_t>{0, 3, 1}, {3})),
                        "out of range or repeated");
  CHECK_THROWS_CONTAINS(shuffle_batch(Tensor::zeros({4, 2}), s), "a shuffle of 3");
}

namespace {
// Randomised affine parameters and running statistics.
void randomize(nn::BatchNorm& bn, uint64_t seed) {
  NoGradGuard g;
  const int64_t C = bn.num_features();
  if (bn.weight().defined()) {
    bn.weight().copy_(add(mul(testing::rnd({C}, seed, DType::f32), 0.3), 1.0));
    bn.bias().copy_(mul(testing::rnd({C}, seed + 1, DType::f32), 0.2));
  }
  bn.running_mean().copy_(mul(testing::rnd({C}, seed + 2, DType::f32), 0.2));
  bn.running_var().copy_(add(abs(testing::rnd({C}, seed + 3, DType::f32)), 0.5));
}
}  // namespace

TEST_CASE("SplitBatchNorm in training: BN per group of samples n % S, running statistics averaged") {
  const int64_t N = 6, C = 3, S = 3;
  SplitBatchNorm sbn(C, S);
  randomize(sbn, 10);
  Tensor x = add(mul(testing::rnd({N, C, 4, 5}, 20, DType::f32), 2.0), 0.5);
  const Tensor rm0 = sbn.running_mean().clone(), rv0 = sbn.running_var().clone();
  Tensor y = sbn.forward(x);
  CHECK(y.shape() == x.shape());
  std::vector<Tensor> rms, rvs;
  for (int64_t s = 0; s < S; ++s) {
    // Group s = samples s, s + S, ...: a plain BatchNorm2d over those samples.
    std::vector<int64_t> idx;
    for (int64_t n = s; n < N; n += S) idx.push_back(n);
    Tensor index = Tensor::from_vector(idx, {int64_t(idx.size())});
    Tensor rm = rm0.clone(), rv = rv0.clone();
    Tensor ref = batch_norm(index_select(x, 0, index), rm, rv, sbn.weight(), sbn.bias(), true, 0.1, 1e-5);
    INFO("group " << s);
    CHECK_CLOSE(index_select(y, 0, index), ref, 1e-5, 1e-5);
    rms.push_back(rm);
    rvs.push_back(rv);
  }
  CHECK_CLOSE(sbn.running_mean(), mean(stack(rms, 0), {0}), 1e-6, 1e-6);
  CHECK_CLOSE(sbn.running_var(), mean(stack(rvs, 0), {0}), 1e-6, 1e-6);
  CHECK(sbn.num_batches_tracked().item() == 0);  // as the demo (F.batch_norm) leaves it
}

TEST_CASE("SplitBatchNorm with one split is BatchNorm2d; in eval it uses the running statistics") {
  nn::BatchNorm2d bn(4);
  randomize(bn, 30);
  SplitBatchNorm one(*std::static_pointer_cast<nn::BatchNorm2d>(bn.clone()), 1);
  Tensor x = testing::rnd({4, 4, 3, 3}, 31, DType::f32);
  CHECK_CLOSE(one.forward(x), bn.forward(x), 1e-6, 1e-5);
  CHECK_CLOSE(one.running_mean(), bn.running_mean(), 1e-7, 1e-6);
  CHECK_CLOSE(one.running_var(), bn.running_var(), 1e-7, 1e-6);
  bn.eval();
  SplitBatchNorm two(*std::static_pointer_cast<nn::BatchNorm2d>(bn.clone()), 2);
  two.eval();
  Tensor x3 = testing::rnd({3, 4, 2, 2}, 32, DType::f32);  // any batch size in eval
  CHECK_CLOSE(two.forward(x3), bn.forward(x3), 1e-6, 1e-6);
}

TEST_CASE("SplitBatchNorm gradients (float64 gradcheck)") {
  nn::BatchNormConfig cfg;
  SplitBatchNorm sbn(2, 2, cfg);
  Tensor x = testing::leaf({4, 2, 3, 3}, 40);
  Tensor w = testing::leaf({2}, 41), b = testing::leaf({2}, 42);
  // The layer's float32 tensors cannot take part in a float64 gradcheck: check
  // the same computation (the split view and repeated parameters) functionally.
  auto f = [](const std::vector<Tensor>& in) {
    const Tensor& xx = in[0];
    Tensor y = batch_norm(xx.reshape({2, 4, 3, 3}), Tensor(), Tensor(), cat({in[1], in[1]}, 0), cat({in[2], in[2]}, 0),
                          true, 0.1, 1e-5);
    return y.reshape({4, 2, 3, 3});
  };
  CHECK_GRADCHECK(f, (std::vector<Tensor>{x, w, b}));
  // And the layer's own gradients agree with that function's (float32).
  Tensor x32 = x.detach().to(DType::f32).requires_grad_();
  sum(mul(sbn.forward(x32), testing::rnd({4, 2, 3, 3}, 43, DType::f32))).backward();
  Tensor x64 = x.detach().requires_grad_();
  Tensor w64 = sbn.weight().detach().to(DType::f64).requires_grad_(), b64 = sbn.bias().detach().to(DType::f64).requires_grad_();
  sum(mul(f({x64, w64, b64}), testing::rnd({4, 2, 3, 3}, 43, DType::f32).to(DType::f64))).backward();
  CHECK_CLOSE(x32.grad(), x64.grad(), 1e-5, 1e-4);
  CHECK_CLOSE(sbn.weight().grad(), w64.grad(), 1e-5, 1e-4);
  CHECK_CLOSE(sbn.bias().grad(), b64.grad(), 1e-5, 1e-4);
}

TEST_CASE("SplitBatchNorm errors and printing") {
  SplitBatchNorm sbn(3, 4);
  CHECK_THROWS_CONTAINS(sbn.forward(Tensor::zeros({6, 3, 2, 2})), "batch size 6 is not a multiple of num_splits 4");
  CHECK_THROWS_CONTAINS(sbn.forward(Tensor::zeros({8, 2, 2, 2})), "expected [N, 3, H, W]");
  CHECK_THROWS_CONTAINS(SplitBatchNorm(3, 0), "num_splits must be >= 1");
  CHECK(sbn.str().find("SplitBatchNorm(3, eps=1e-05") != std::string::npos);
  CHECK(sbn.str().find("num_splits=4") != std::string::npos);
}

TEST_CASE("use_split_batch_norm swaps every BatchNorm2d of a ResNet, keeping names and tensors") {
  nn::ResNetConfig cfg;
  cfg.small_stem = true;
  cfg.width = 4;
  cfg.num_classes = 5;
  auto net = nn::resnet(18, cfg);
  const auto before = net->state_dict();
  auto bn1_weight = net->child_as<nn::BatchNorm2d>("bn1").weight();
  CHECK(use_split_batch_norm(*net, 1) == 0);
  CHECK(use_split_batch_norm(*net, 2) == 20);  // bn1 + 4 layers × 2 blocks × 2 + 3 downsample BNs
  CHECK(use_split_batch_norm(*net, 2) == 0);   // already split
  const auto after = net->state_dict();
  REQUIRE(after.size() == before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    CHECK(after[i].first == before[i].first);
    CHECK(after[i].second.same(before[i].second));  // the same tensors: an optimiser keeps working
  }
  CHECK(net->child("bn1").type_name() == "SplitBatchNorm");
  CHECK(net->child_as<nn::BatchNorm2d>("bn1").weight().same(bn1_weight));
  CHECK(net->child("layer2").child("0").child("downsample").child("1").type_name() == "SplitBatchNorm");
  // Clones stay split, with their own tensors.
  auto copy = net->clone();
  CHECK(copy->child("bn1").type_name() == "SplitBatchNorm");
  CHECK(dynamic_cast<SplitBatchNorm&>(copy->child("bn1")).num_splits() == 2);
  CHECK(!copy->state_dict()[1].second.same(after[1].second));
  Tensor y = net->forward(testing::rnd({4, 3, 8, 8}, 3, DType::f32));
  CHECK(y.shape() == Shape{4, 5});
  CHECK_THROWS_CONTAINS(net->forward(testing::rnd({3, 3, 8, 8}, 3, DType::f32)), "not a multiple of num_splits 2");
}
