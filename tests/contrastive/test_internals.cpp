// contrastive/internals.h: each formula against values worked out by hand on
// tiny tensors, the queue's ages through enqueues and checkpoints, and
// measure_internals on real v2 / v3 steps (its logits agree with the exposed q, k).
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "contrastive/contrastive.h"
#include "nn/nn.h"
#include "test_util.h"

using namespace moco;
using namespace moco::contrastive;

namespace {

Tensor mat(const std::vector<double>& v, int64_t rows, int64_t cols) { return Tensor::from_vector(v, {rows, cols}); }
Tensor labels(const std::vector<int64_t>& v) { return Tensor::from_vector(v, {int64_t(v.size())}); }

// A queue holding exactly `keys` [K, dim] (through the checkpoint layout [dim, K]).
Queue queue_of(const Tensor& keys) {
  Generator g(1);
  Queue q(keys.size(0), keys.size(1), g);
  q.load_state_dict({{"queue", keys.t().contiguous()}, {"queue_ptr", Tensor::zeros({1}, DType::i64)}});
  return q;
}

std::shared_ptr<nn::ResNet> tiny_resnet() {
  nn::ResNetConfig rc;
  rc.small_stem = true;
  rc.width = 4;
  rc.num_classes = 0;
  return nn::resnet(18, rc);
}

Tensor images(int64_t n, uint64_t seed) { return testing::rnd({n, 3, 8, 8}, seed, DType::f32); }

// Mean of q_i·k_i over the pairs: the positive logits as cosines, computed directly.
double mean_positive_cosine(const MoCoOutput& out) {
  double s = 0;
  int64_t n = 0;
  for (size_t d = 0; d < out.q.size(); ++d) {
    s += sum(mul(out.q[d], out.k[d])).item();
    n += out.q[d].size(0);
  }
  return s / double(n);
}

}  // namespace

TEST_CASE("chance loss: ln(classes), scaled") {
  CHECK(chance_loss(4097) == doctest::Approx(8.3180100).epsilon(1e-7));  // ln(K+1), K 4096
  CHECK(chance_loss(256, 0.4) == doctest::Approx(0.4 * 5.545177).epsilon(1e-6));
  CHECK(chance_loss(1) == 0);
  CHECK_THROWS_CONTAINS(chance_loss(0), "0 classes");
}

TEST_CASE("logit stats: positives at the label, negatives elsewhere, as cosines (x T)") {
  // T 0.5: row 0 cosines 1, 0.5, 0 (positive first); row 1: 0.25, 0.75, -0.5 (positive in column 1).
  const Tensor l = mat({2, 1, 0, 0.5, 1.5, -1}, 2, 3);
  LogitStats s = logit_stats({l}, {labels({0, 1})}, 0.5);
  CHECK(s.pos_mean == doctest::Approx(0.875));
  // negatives 0.5, 0, 0.25, -0.5: mean 0.0625, population variance 0.546875 / 4
  CHECK(s.neg_mean == doctest::Approx(0.0625));
  CHECK(s.neg_std == doctest::Approx(std::sqrt(0.546875 / 4)));
  CHECK(s.neg_max == doctest::Approx(0.5));
  // Two directions pool their entries.
  LogitStats two = logit_stats({l, mat({4, 0, 0, 4}, 2, 2)}, {labels({0, 1}), labels({0, 1})}, 0.5);
  CHECK(two.pos_mean == doctest::Approx((1 + 0.75 + 2 + 2) / 4));
  CHECK(two.neg_mean == doctest::Approx(0.25 / 6));
  CHECK(two.neg_max == doctest::Approx(0.5));
  CHECK_THROWS_CONTAINS(logit_stats({l}, {labels({0, 3})}, 1), "label 3 outside [0, 3)");
}

TEST_CASE("instance top-1: the positive ranked first") {
  const Tensor l = mat({2, 1, 0, 0.5, 1.5, -1, 3, 4, 0}, 3, 3);
  CHECK(instance_top1(l, labels({0, 1, 0})) == doctest::Approx(200.0 / 3));
  CHECK(instance_top1(l, labels({1, 0, 2})) == 0);
}

TEST_CASE("alignment = mean |q_i - k_i|^2") {
  const Tensor q = mat({1, 0, 0, 1}, 2, 2), k = mat({0.6, 0.8, 0, 1}, 2, 2);
  CHECK(alignment(q, k) == doctest::Approx((0.16 + 0.64 + 0) / 2));
  CHECK(alignment(q, q) == 0);
  CHECK_THROWS_CONTAINS(alignment(q, mat({1, 0}, 1, 2)), "same [N, d]");
}

TEST_CASE("uniformity = log mean over pairs i<j of exp(-2 |x_i - x_j|^2)") {
  // Squared distances: (0,1) 2, (0,2) 4, (1,2) 2.
  const Tensor x = mat({1, 0, 0, 1, -1, 0}, 3, 2);
  CHECK(uniformity(x) == doctest::Approx(std::log((2 * std::exp(-4.0) + std::exp(-8.0)) / 3)));
  CHECK(uniformity(x, 1) == doctest::Approx(std::log((2 * std::exp(-2.0) + std::exp(-4.0)) / 3)));
  // Collapsed features: every distance 0, uniformity 0 (its largest value).
  CHECK(uniformity(mat({0.6, 0.8, 0.6, 0.8}, 2, 2)) == doctest::Approx(0).epsilon(1e-12));
  CHECK_THROWS_CONTAINS(uniformity(mat({1, 0}, 1, 2)), "at least 2 rows");
}

TEST_CASE("feature std: mean over dimensions of the sample std of the normalised rows") {
  // Rows normalise to (0.6, 0.8), (0.8, 0.6), (0, 1).
  const Tensor z = mat({3, 4, 4, 3, 0, 5}, 3, 2);
  const double c0 = std::sqrt((std::pow(0.6 - 1.4 / 3, 2) + std::pow(0.8 - 1.4 / 3, 2) + std::pow(1.4 / 3, 2)) / 2);
  const double c1 = std::sqrt((0 + 0.04 + 0.04) / 2);
  CHECK(feature_std(z) == doctest::Approx((c0 + c1) / 2));
  CHECK(feature_std(mat({1, 1, 2, 2, 3, 3}, 3, 2)) == doctest::Approx(0).epsilon(1e-12));  // collapsed
  // Random directions in d dimensions spread with std near 1/sqrt(d).
  const double s = feature_std(testing::rnd({4096, 64}, 3));
  CHECK(s == doctest::Approx(1 / std::sqrt(64.0)).epsilon(0.02));
}

TEST_CASE("encoder drift = |theta_q - theta_k| / |theta_q| over the shared parameters; grad norm") {
  nn::Linear q(2, 1), k(2, 1);
  {
    NoGradGuard no_grad;
    q.named_parameters()[0].second.copy_(mat({3, 0}, 1, 2));  // weight
    q.named_parameters()[1].second.copy_(Tensor::from_vector(std::vector<double>{4}, {1}));
    k.named_parameters()[0].second.copy_(mat({3, 0}, 1, 2));
    k.named_parameters()[1].second.copy_(Tensor::from_vector(std::vector<double>{1}, {1}));
  }
  CHECK(encoder_drift(q, k) == doctest::Approx(3.0 / 5));
  CHECK(encoder_drift(q, q) == 0);
  CHECK_THROWS_CONTAINS(encoder_drift(q, nn::ReLU()), "share no parameter");

  CHECK(grad_norm(q) == 0);  // no gradients yet
  q.named_parameters()[0].second.set_grad(mat({1, 2}, 1, 2).to(DType::f32));
  q.named_parameters()[1].second.set_grad(Tensor::from_vector(std::vector<float>{2}, {1}));
  CHECK(grad_norm(q) == doctest::Approx(3));  // sqrt(1 + 4 + 4)
}

TEST_CASE("queue ages: 0 for the keys just enqueued, +1 per enqueue for the rest; checkpointed") {
  Generator g(2);
  Queue q(8, 2, g);
  CHECK(queue_age_mean(q) == 0);
  const Tensor k2 = mat({1, 0, 0, 1}, 2, 2).to(DType::f32);
  for (int i = 0; i < 3; ++i) q.enqueue(k2);
  CHECK(q.ages() == std::vector<int64_t>{2, 2, 1, 1, 0, 0, 3, 3});
  CHECK(queue_age_mean(q) == doctest::Approx(1.5));
  q.enqueue(k2);  // a full ring: (K/B - 1)/2 = 1.5 from now on
  CHECK(q.ages() == std::vector<int64_t>{3, 3, 2, 2, 1, 1, 0, 0});
  CHECK(queue_age_mean(q) == doctest::Approx(1.5));

  nn::NamedTensors st = q.state_dict();
  for (auto& t : q.age_state_dict()) st.push_back(t);
  CHECK(st.back().first == "queue_age");
  Generator g2(5);
  Queue r(8, 2, g2);
  r.load_state_dict(st);
  CHECK(r.ages() == q.ages());
  r.load_state_dict(q.state_dict());  // an official checkpoint: no ages, they restart at 0
  CHECK(r.ages() == std::vector<int64_t>(8, 0));
  st.back().second = Tensor::zeros({3}, DType::i64);
  CHECK_THROWS_CONTAINS(r.load_state_dict(st), "'queue_age' must be int64 [8]");
  CHECK(q.clone().ages() == q.ages());
}

TEST_CASE("queue similarity: mean cosine over pairs of different keys") {
  // Cosines: (0,1) 0, (0,2) 0.6, (1,2) 0.8.
  CHECK(queue_sim_mean(queue_of(mat({1, 0, 0, 1, 0.6, 0.8}, 3, 2).to(DType::f32))) ==
        doctest::Approx(1.4 / 3).epsilon(1e-6));
  // Against the direct pairwise mean on a random queue.
  Generator g(9);
  Queue q(32, 5, g);
  const std::vector<float> v = q.keys().to_vector<float>();
  double s = 0;
  for (int i = 0; i < 32; ++i)
    for (int j = 0; j < 32; ++j)
      if (i != j)
        for (int c = 0; c < 5; ++c) s += double(v[size_t(i * 5 + c)]) * double(v[size_t(j * 5 + c)]);
  CHECK(queue_sim_mean(q) == doctest::Approx(s / (32.0 * 31)).epsilon(1e-5));
}

TEST_CASE("measure_internals on a MoCo v2 step: chance ln(K+1), logits agree with q and k, queue values") {
  nn::manual_seed(4);
  MoCoV2Config c = MoCoV2Config::v2();
  c.dim = 8;
  c.K = 16;
  c.m = 0.9;
  MoCoV2 model(tiny_resnet(), c);
  model.train();
  MoCoOutput out = model.forward_views(images(4, 1), images(4, 2));
  REQUIRE(out.q.size() == 1);
  CHECK(out.q[0].requires_grad() == false);
  CHECK_CLOSE(sum(mul(out.q[0], out.q[0]), {1}), Tensor::ones({4}), 1e-5, 1e-5);  // normalised
  out.loss.backward();
  Internals in = measure_internals(model, out);
  CHECK(in.loss_chance == doctest::Approx(std::log(17.0)));
  CHECK(in.logits.pos_mean == doctest::Approx(mean_positive_cosine(out)).epsilon(1e-5));
  CHECK(in.logits.neg_max <= 1.0 + 1e-6);
  CHECK(in.logits.neg_max >= in.logits.neg_mean);
  CHECK(in.alignment == doctest::Approx(2 - 2 * in.logits.pos_mean).epsilon(1e-5));  // unit vectors
  REQUIRE(in.queue_age_mean.has_value());
  CHECK(*in.queue_age_mean == doctest::Approx((12 * 1 + 4 * 0) / 16.0));  // one enqueue of 4 into 16
  REQUIRE(in.queue_sim_mean.has_value());
  // The first EMA of a copy is the copy, up to the float rounding of m·x + (1−m)·x
  // (exactly 0 with FMA contraction in the optimised build, ~3e-8 without).
  CHECK(in.encoder_drift < 1e-6);
  CHECK(in.grad_norm > 0);

  // One plain gradient step θq -= 0.1 g, then the next step's EMA:
  // θq' − θk' = θq' − (mθq + (1−m)θq') = m(θq' − θq) = −0.1·m·g, so drift = 0.1·m·|g| / |θq'|.
  double theta_sq = 0;
  {
    NoGradGuard no_grad;
    for (auto& [n, p] : model.query_encoder().named_parameters()) {
      if (p.grad().defined()) p.add_(p.grad(), -0.1);
      theta_sq += sum(mul(p, p)).item();
    }
  }
  MoCoOutput next = model.forward_views(images(4, 3), images(4, 4));
  CHECK(measure_internals(model, next).encoder_drift ==
        doctest::Approx(0.1 * 0.9 * in.grad_norm / std::sqrt(theta_sq)).epsilon(1e-4));
  CHECK(in.feature_std > 0);
  CHECK(in.feature_std < 1);

  // Symmetric: two directions, chance 2 ln(K+1).
  c.symmetric = true;
  MoCoV2 sym(tiny_resnet(), c);
  MoCoOutput o2 = sym.forward_views(images(4, 1), images(4, 2));
  REQUIRE(o2.q.size() == 2);
  Internals i2 = measure_internals(sym, o2);
  CHECK(i2.loss_chance == doctest::Approx(2 * std::log(17.0)));
  CHECK(i2.logits.pos_mean == doctest::Approx(mean_positive_cosine(o2)).epsilon(1e-5));
}

TEST_CASE("measure_internals on a MoCo v3 step: chance 2 x 2T ln(B), diagonal positives, no queue values") {
  nn::manual_seed(5);
  MoCoV3Config c;
  c.dim = 8;
  c.mlp_dim = 16;
  c.T = 0.2;
  MoCoV3 model(tiny_resnet(), c);
  model.train();
  MoCoOutput out = model.forward_views(images(6, 1), images(6, 2));
  out.loss.backward();
  Internals in = measure_internals(model, out);
  CHECK(in.loss_chance == doctest::Approx(2 * 2 * 0.2 * std::log(6.0)));
  CHECK(in.logits.pos_mean == doctest::Approx(mean_positive_cosine(out)).epsilon(1e-5));
  CHECK_FALSE(in.queue_age_mean.has_value());
  CHECK_FALSE(in.queue_sim_mean.has_value());
  // The loss of the step against the chance level: an untrained model sits near it.
  CHECK(out.loss.item() == doctest::Approx(in.loss_chance).epsilon(0.3));
}
