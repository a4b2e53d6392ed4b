// Learning-rate and momentum schedules of the MoCo recipes. `epoch` may be
// fractional (epoch + i / iters_per_epoch) for per-iteration schedules.
#pragma once
#include <string>
#include <vector>

namespace moco::optim {

// MoCo v1: lr · gamma^(number of milestones ≤ epoch) (--schedule 120 160).
double step_lr(double base_lr, double epoch, const std::vector<double>& milestones, double gamma = 0.1);
// MoCo v2 --cos (per epoch): lr · ½(1 + cos(π·epoch/epochs)).
double cosine_lr(double base_lr, double epoch, double epochs);
// MoCo v3 (per iteration): linear warmup from 0 over warmup_epochs, then a
// half-cycle cosine over the remaining epochs.
double warmup_cosine_lr(double base_lr, double epoch, double warmup_epochs, double epochs);
// MoCo v3 --moco-m-cos: m = 1 − ½(1 + cos(π·epoch/epochs))·(1 − m0).
double cosine_momentum(double m0, double epoch, double epochs);

// A schedule chosen by name, for the command line.
struct LrSchedule {
  enum class Kind { constant, step, cosine, warmup_cosine };
  Kind kind = Kind::constant;
  double base_lr = 0, epochs = 1, warmup_epochs = 0, gamma = 0.1;
  std::vector<double> milestones;

  double operator()(double epoch) const;
  // "constant", "step", "cosine", "warmup_cosine".
  static Kind parse(const std::string& name);
};

}  // namespace moco::optim
