// The seed study's arithmetic: statistics over seeds (against values worked
// out by hand below) and budgets fitted to the split (batch clamping, the
// label floor, the queue limit, and the messages for what cannot fit).
#include <cmath>

#include "test_util.h"
#include "tensor/error.h"
#include "train/study/budget.h"
#include "train/study/compare.h"
#include "train/study/stats.h"

using namespace moco;
using namespace moco::train;

TEST_CASE("study stats: mean and sample std") {
  CHECK(mean_of({1, 2, 3, 4}) == doctest::Approx(2.5));
  // deviations -1.5 -0.5 0.5 1.5: squares sum to 5, over n - 1 = 3
  CHECK(std_of({1, 2, 3, 4}) == doctest::Approx(std::sqrt(5.0 / 3.0)));
  CHECK(std_of({7}) == 0);
  CHECK(std::isnan(mean_of({})));
}

TEST_CASE("study stats: t quantiles") {
  CHECK(t975(1) == doctest::Approx(12.7062).epsilon(1e-5));
  CHECK(t975(2) == doctest::Approx(4.3027).epsilon(1e-5));
  CHECK(t975(4) == doctest::Approx(2.7764).epsilon(1e-5));
  CHECK(t975(30) == doctest::Approx(2.0423).epsilon(1e-5));
  // beyond the table: the expansion, against published values
  CHECK(std::abs(t975(40) - 2.021075) < 1e-5);
  CHECK(std::abs(t975(120) - 1.979930) < 1e-5);
  CHECK(std::abs(t975(100000) - 1.959988) < 1e-5);
  CHECK_THROWS_CONTAINS(t975(0), "at least 1");
}

TEST_CASE("study stats: paired difference, CI and verdicts") {
  // d = {2, 3, 2}: mean 7/3, std sqrt(1/3), half-width t(2) * std / sqrt(3) = 4.3027 / 3
  PairedDiff h = paired_difference({3, 5, 4}, {1, 2, 2});
  CHECK(h.n == 3);
  CHECK(h.mean == doctest::Approx(7.0 / 3));
  CHECK(h.std == doctest::Approx(std::sqrt(1.0 / 3)));
  CHECK(h.lo == doctest::Approx(7.0 / 3 - 4.3027 / 3).epsilon(1e-4));
  CHECK(h.hi == doctest::Approx(7.0 / 3 + 4.3027 / 3).epsilon(1e-4));
  CHECK(h.verdict == "holds");
  PairedDiff r = paired_difference({1, 2, 2}, {3, 5, 4});
  CHECK(r.mean == doctest::Approx(-7.0 / 3));
  CHECK(r.verdict == "reversed");
  // d = {-1, 2, 0}: mean 1/3, std sqrt(7/3): the interval [-3.46, 4.13] holds 0
  PairedDiff u = paired_difference({1, 3, 2}, {2, 1, 2});
  CHECK(u.std == doctest::Approx(std::sqrt(7.0 / 3)));
  CHECK(u.lo < 0);
  CHECK(u.hi > 0);
  CHECK(u.verdict == "not resolved at this budget");
  PairedDiff one = paired_difference({80}, {70});
  CHECK(one.mean == doctest::Approx(10));
  CHECK(std::isnan(one.lo));
  CHECK(one.verdict == "not resolved at this budget");
  CHECK_THROWS_CONTAINS(paired_difference({1, 2}, {1}), "equal, non-empty");
}

TEST_CASE("study budget: the label floor and classes too small to learn") {
  const std::vector<std::string> names = {"a", "b", "c", "d"};
  CHECK(labelled_per_class({6000, 6000, 6000, 6000}, 0.1, 10, names) == std::vector<int64_t>{600, 600, 600, 600});
  // 1% of 50 rounds to 1 (floor 10), a class of 3 keeps all 3
  CHECK(labelled_per_class({50, 60, 3, 100}, 0.01, 10, names) == std::vector<int64_t>{10, 10, 3, 10});
  CHECK_THROWS_AS(labelled_per_class({50, 1}, 0.5, 10, names), UsageError);
  CHECK_THROWS_CONTAINS(labelled_per_class({50, 1}, 0.5, 10, names), "class 'b' with 1 labelled image (of 1");
  CHECK_THROWS_CONTAINS(labelled_per_class({500, 500}, 0.001, 1, names), "--label-fraction 0.001 leaves class 'a'");
  CHECK_THROWS_CONTAINS(labelled_per_class({500, 0}, 0.5, 10, names), "with 0 labelled images");
  CHECK_THROWS_CONTAINS(labelled_per_class({500}, 0, 10, names), "--label-fraction must be in (0, 1]");
}

TEST_CASE("study budget: steps become batches and epochs that the split supplies") {
  // A large split: the preset's batch, the fewest epochs reaching the step target.
  Budget big = fit_budget("ft", "--batch-size", 2400, 64, false, 300, 0);
  CHECK(big.batch == 64);
  CHECK(big.steps_per_epoch == 37);
  CHECK(big.epochs == 9);  // ceil(300 / 37)
  CHECK(big.steps() == 333);
  CHECK(big.images_seen() == 333 * 64);
  // A tiny split (214 labelled images): the batch shrinks to a quarter of it.
  Budget tiny = fit_budget("ft", "--batch-size", 214, 64, false, 300, 0);
  CHECK(tiny.batch == 53);
  CHECK(tiny.steps_per_epoch == 4);
  CHECK(tiny.epochs == 75);
  // Shuffle-BN groups: the clamped batch stays a multiple of 8.
  Budget grouped = fit_budget("pre", "--pretrain-batch-size", 100, 64, false, 10, 0, 8);
  CHECK(grouped.batch == 24);
  // Fixed epochs win over the step target.
  CHECK(fit_budget("ft", "--batch-size", 2400, 64, false, 300, 50).epochs == 50);
  // A batch the user gave must fit.
  CHECK_THROWS_AS(fit_budget("fine-tuning", "--batch-size", 214, 300, true, 300, 0), UsageError);
  CHECK_THROWS_CONTAINS(fit_budget("fine-tuning", "--batch-size", 214, 300, true, 300, 0),
                        "--batch-size 300 is larger than the 214 images");
  CHECK_THROWS_CONTAINS(fit_budget("pre", "--pretrain-batch-size", 2400, 60, true, 300, 0, 8), "multiple of 8");
  CHECK(fit_budget("ft", "--batch-size", 214, 200, true, 300, 0).steps_per_epoch == 1);
  // Too few images for any sensible batch.
  CHECK_THROWS_CONTAINS(fit_budget("pre", "--pretrain-batch-size", 6, 64, false, 10, 0, 8), "too small for the study");
  // 20 labelled images would give batches of 5: under a floor of 8 the split is too small.
  CHECK_THROWS_CONTAINS(fit_budget("fine-tuning", "--batch-size", 20, 64, false, 300, 0, 1, 4, 8),
                        "the split has 20 images, too few for 4 steps an epoch of at least 8 images (32 images or more)");
  CHECK(fit_budget("fine-tuning", "--batch-size", 40, 64, false, 300, 0, 1, 4, 8).batch == 10);
}

TEST_CASE("study budget: the queue fits the pretraining set") {
  CHECK(fit_queue(24000, 64, 0) == 4096);  // 4 x 4096 <= 24000 < 4 x 8192
  CHECK(fit_queue(2000, 64, 0) == 256);    // a quarter of the images at most
  CHECK(fit_queue(200, 64, 0) == 64);      // at least one batch
  CHECK(fit_queue(24000, 64, 0, 1024) == 1024);
  CHECK(fit_queue(24000, 64, 8192) == 8192);
  CHECK_THROWS_AS(fit_queue(1000, 64, 4096), UsageError);
  CHECK_THROWS_CONTAINS(fit_queue(1000, 64, 4096), "--moco-k 4096 is larger than the 1000 pretraining images");
  CHECK_THROWS_CONTAINS(fit_queue(24000, 64, 100), "multiple of the pretraining batch 64");
}

TEST_CASE("compare: smoothness is the mean absolute epoch-to-epoch change") {
  CHECK(mean_abs_change({}) == 0);
  CHECK(mean_abs_change({50}) == 0);
  CHECK(mean_abs_change({50, 60, 55}) == doctest::Approx(7.5));
}
