#include "optim/schedule.h"

#include <cmath>

#include "tensor/error.h"

namespace moco::optim {

double step_lr(double base_lr, double epoch, const std::vector<double>& milestones, double gamma) {
  double lr = base_lr;
  for (double m : milestones)
    if (epoch >= m) lr *= gamma;
  return lr;
}

double cosine_lr(double base_lr, double epoch, double epochs) {
  MOCO_CHECK(epochs > 0, "cosine_lr: epochs must be positive, got {}", epochs);
  return base_lr * 0.5 * (1.0 + std::cos(M_PI * epoch / epochs));
}

double warmup_cosine_lr(double base_lr, double epoch, double warmup_epochs, double epochs) {
  MOCO_CHECK(warmup_epochs >= 0 && epochs > warmup_epochs,
             "warmup_cosine_lr: need 0 <= warmup_epochs ({}) < epochs ({})", warmup_epochs, epochs);
  if (epoch < warmup_epochs) return base_lr * epoch / warmup_epochs;
  return base_lr * 0.5 * (1.0 + std::cos(M_PI * (epoch - warmup_epochs) / (epochs - warmup_epochs)));
}

double cosine_momentum(double m0, double epoch, double epochs) {
  MOCO_CHECK(epochs > 0, "cosine_momentum: epochs must be positive, got {}", epochs);
  return 1.0 - 0.5 * (1.0 + std::cos(M_PI * epoch / epochs)) * (1.0 - m0);
}

double LrSchedule::operator()(double epoch) const {
  switch (kind) {
    case Kind::constant: return base_lr;
    case Kind::step: return step_lr(base_lr, epoch, milestones, gamma);
    case Kind::cosine: return cosine_lr(base_lr, epoch, epochs);
    case Kind::warmup_cosine: return warmup_cosine_lr(base_lr, epoch, warmup_epochs, epochs);
  }
  return base_lr;
}

LrSchedule::Kind LrSchedule::parse(const std::string& name) {
  if (name == "constant") return Kind::constant;
  if (name == "step") return Kind::step;
  if (name == "cosine" || name == "cos") return Kind::cosine;
  if (name == "warmup_cosine" || name == "warmup-cosine") return Kind::warmup_cosine;
  fail("unknown learning-rate schedule '{}' (constant, step, cosine, warmup_cosine)", name);
}

}  // namespace moco::optim
