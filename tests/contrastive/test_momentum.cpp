// The momentum encoder: a no-grad deep copy, the EMA over parameters only,
// and the constant / cosine momentum.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/ops.h"
#include "contrastive/momentum.h"
#include "nn/nn.h"
#include "test_util.h"

using namespace moco;
using namespace moco::contrastive;

namespace {
std::shared_ptr<nn::Sequential> small_net() {
  nn::manual_seed(11);
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::BatchNorm1d>(3), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(3, 2, false)});
}
}  // namespace

TEST_CASE("the key encoder is a deep copy without gradients") {
  auto q = small_net();
  auto k = make_momentum_encoder(*q);
  CHECK(k->type_name() == "Sequential");
  auto qs = q->state_dict(), ks = k->state_dict();
  REQUIRE(qs.size() == ks.size());
  for (size_t i = 0; i < qs.size(); ++i) {
    CHECK(qs[i].first == ks[i].first);
    CHECK(!qs[i].second.same(ks[i].second));
    CHECK(qs[i].second.storage().get() != ks[i].second.storage().get());
    CHECK_CLOSE(ks[i].second, qs[i].second, 0, 0);
  }
  for (auto& [n, p] : k->named_parameters()) CHECK_MESSAGE(!p.requires_grad(), n);
  for (auto& [n, p] : q->named_parameters()) CHECK_MESSAGE(p.requires_grad(), n);
  // The key encoder's forward records nothing.
  Tensor y = k->forward(testing::rnd({5, 4}, 1, DType::f32));
  CHECK(!y.requires_grad());
}

TEST_CASE("momentum_update is θk ← m·θk + (1−m)·θq over parameters, buffers untouched") {
  auto q = small_net();
  auto k = make_momentum_encoder(*q);
  {
    NoGradGuard g;
    for (auto& [n, p] : q->named_parameters()) p.copy_(testing::rnd(p.shape(), 3, DType::f32));
    for (auto& [n, b] : k->named_buffers())
      if (is_floating(b.dtype())) b.fill_(0.25);
  }
  std::vector<Tensor> k_before, q_now;
  for (auto& [n, p] : k->named_parameters()) k_before.push_back(p.clone());
  for (auto& [n, p] : q->named_parameters()) q_now.push_back(p);
  const double m = 0.9;
  momentum_update(*k, *q, m);
  auto kp = k->named_parameters();
  for (size_t i = 0; i < kp.size(); ++i) {
    Tensor expected = add(mul(k_before[i], m), mul(q_now[i], 1 - m));
    INFO(kp[i].first);
    CHECK_CLOSE(kp[i].second, expected, 1e-7, 1e-6);
  }
  for (auto& [n, b] : k->named_buffers())
    if (is_floating(b.dtype())) CHECK_CLOSE(b, Tensor::full(b.shape(), 0.25), 0, 0);
  // m = 0 copies, m = 1 keeps.
  momentum_update(*k, *q, 0.0);
  for (size_t i = 0; i < kp.size(); ++i) CHECK_CLOSE(kp[i].second, q_now[i], 0, 0);
  Tensor kept = kp[0].second.clone();
  {
    NoGradGuard g;
    q_now[0].fill_(5);
  }
  momentum_update(*k, *q, 1.0);
  CHECK_CLOSE(kp[0].second, kept, 0, 0);
}

TEST_CASE("momentum_update arithmetic on a Linear") {
  auto q = std::make_shared<nn::Linear>(3, 2);
  auto k = make_momentum_encoder(*q);
  {
    NoGradGuard g;
    q->weight().copy_(Tensor::full({2, 3}, 1.0));
    k->named_parameters()[0].second.copy_(Tensor::full({2, 3}, 3.0));
  }
  momentum_update(*k, *q, 0.75);
  CHECK_CLOSE(k->named_parameters()[0].second, Tensor::full({2, 3}, 2.5), 1e-7, 0);
}

TEST_CASE("momentum_update rejects different structures and bad momenta") {
  auto a = std::make_shared<nn::Linear>(4, 3);
  auto b = std::make_shared<nn::Linear>(4, 2);
  auto c = small_net();
  CHECK_THROWS_CONTAINS(momentum_update(*a, *b, 0.9), "parameter 0 differs");
  CHECK_THROWS_CONTAINS(momentum_update(*a, *c, 0.9), "parameters");
  CHECK_THROWS_CONTAINS(momentum_update(*a, *a, 1.5), "must be in [0, 1]");
}

TEST_CASE("momentum schedules: constant and MoCo v3's cosine") {
  MomentumSchedule c{0.99, false, 100};
  CHECK(c(0) == 0.99);
  CHECK(c(57.3) == 0.99);
  MomentumSchedule cos{0.99, true, 100};
  CHECK(cos(0) == doctest::Approx(0.99));
  CHECK(cos(50) == doctest::Approx(0.995));
  CHECK(cos(100) == doctest::Approx(1.0));
  CHECK(cos(25) == doctest::Approx(1 - 0.5 * (1 + std::cos(M_PI * 0.25)) * 0.01));
}

TEST_CASE("ema_ on contiguous tensors and on strided views (updated through a contiguous copy)") {
  // k = 2, q = 4, m = 0.9: 0.9·2 + 0.1·4 = 2.2 (m and 1 − m swapped would give 3.8).
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor k = Tensor::full({3, 4}, 2.0, dt), q = Tensor::full({3, 4}, 4.0, dt);
    ema_(k, q, 0.9);
    CHECK_CLOSE(k, Tensor::full({3, 4}, 2.2, dt), 1e-6, 0);
    // A transposed view is not contiguous: the same formula, through a copy written back.
    Tensor kb = Tensor::full({4, 3}, 2.0, dt), qb = Tensor::full({4, 3}, 4.0, dt);
    Tensor kt = kb.transpose(0, 1), qt = qb.transpose(0, 1);
    REQUIRE_FALSE(kt.is_contiguous());
    {
      NoGradGuard g;
      kb.narrow(0, 0, 1).fill_(10.0);  // one row differs, so a mixed-up index would show
    }
    ema_(kt, qt, 0.9);
    std::vector<double> got = kb.to(DType::f64).to_vector<double>();
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(i < 3 ? 9.4 : 2.2).epsilon(1e-6));
  }
}
