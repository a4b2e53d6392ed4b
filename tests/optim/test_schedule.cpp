// Schedules against the MoCo reference code (and PyTorch's MultiStepLR and
// CosineAnnealingLR) over a few hundred steps (tests/parity/gen_optim.py).
#include <doctest/doctest.h>

#include "../nn/nn_fixture.h"
#include "optim/schedule.h"

using namespace moco;
using namespace moco::optim;
using moco::testing::fx;

namespace {
const char* kFile = "optim/schedules.safetensors";

void check_series(const std::string& name, const std::function<double(double)>& f, const std::string& epochs,
                  const std::string& want, double rtol) {
  auto e = fx(kFile, epochs).to_vector<double>();
  std::vector<double> got;
  for (double x : e) got.push_back(f(x));
  Tensor w = fx(kFile, want);
  CloseReport r = allclose(Tensor::from_vector(got, {int64_t(got.size())}), w, 1e-15, rtol, name);
  CHECK_MESSAGE(r.ok, r.message);
  CHECK(got.size() >= 200);
}
}  // namespace

TEST_CASE("schedules: MoCo v1 step, v2 cosine, v3 warmup + cosine, v3 momentum") {
  check_series("step", [](double e) { return step_lr(0.03, e, {120, 160}); }, "step/epoch", "step/lr", 1e-12);
  check_series("step vs MultiStepLR", [](double e) { return step_lr(0.03, e, {120, 160}); }, "step/epoch",
               "step_torch/lr", 1e-12);
  check_series("cosine", [](double e) { return cosine_lr(0.06, e, 200); }, "cosine/epoch", "cosine/lr", 1e-12);
  // PyTorch's CosineAnnealingLR is recursive: equal up to its rounding.
  check_series("cosine vs CosineAnnealingLR", [](double e) { return cosine_lr(0.06, e, 200); }, "cosine/epoch",
               "cosine_torch/lr", 1e-9);
  check_series("warmup_cosine", [](double e) { return warmup_cosine_lr(0.6, e, 2, 10); }, "warmup_cosine/epoch",
               "warmup_cosine/lr", 1e-12);
  check_series("momentum", [](double e) { return cosine_momentum(0.99, e, 10); }, "momentum/epoch", "momentum/m",
               1e-12);
}

TEST_CASE("schedules: LrSchedule by name and edge values") {
  LrSchedule s;
  s.kind = LrSchedule::parse("warmup_cosine");
  s.base_lr = 1.0;
  s.epochs = 10;
  s.warmup_epochs = 2;
  CHECK(s(0) == 0);
  CHECK(s(1) == doctest::Approx(0.5));
  CHECK(s(2) == doctest::Approx(1.0));
  CHECK(s(10) == doctest::Approx(0.0));
  s.kind = LrSchedule::parse("cos");
  CHECK(s(5) == doctest::Approx(0.5));
  s.kind = LrSchedule::parse("step");
  s.milestones = {3, 6};
  CHECK(s(6) == doctest::Approx(0.01));
  CHECK(cosine_momentum(0.99, 0, 100) == doctest::Approx(0.99));
  CHECK(cosine_momentum(0.99, 100, 100) == doctest::Approx(1.0));
  CHECK_THROWS_WITH_AS(LrSchedule::parse("linear"), doctest::Contains("unknown learning-rate schedule"), Error);
  CHECK_THROWS_WITH_AS(warmup_cosine_lr(1, 0, 5, 5), doctest::Contains("warmup_epochs"), Error);
}
