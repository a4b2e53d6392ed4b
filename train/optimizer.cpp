#include "train/optimizer.h"

#include "tensor/error.h"

namespace moco::train {

std::unique_ptr<optim::Optimizer> make_optimizer(const OptimizerChoice& c, const nn::NamedTensors& params) {
  optim::ParamGroup g = optim::make_group(params, true);
  MOCO_USAGE_CHECK(!g.params.empty(), "nothing to train: every parameter is frozen");
  if (c.kind == "sgd") {
    optim::SGDConfig s;
    s.lr = c.lr;
    s.momentum = c.momentum;
    s.weight_decay = c.weight_decay;
    return std::make_unique<optim::SGD>(std::vector<optim::ParamGroup>{g}, s);
  }
  if (c.kind == "lars") {
    optim::LARSConfig s;
    s.lr = c.lr;
    s.momentum = c.momentum;
    s.weight_decay = c.weight_decay;
    return std::make_unique<optim::LARS>(std::vector<optim::ParamGroup>{g}, s);
  }
  MOCO_USAGE_CHECK(c.kind == "adamw", "--optimizer must be sgd, lars or adamw, got '{}'", c.kind);
  optim::AdamWConfig s;
  s.lr = c.lr;
  s.weight_decay = c.weight_decay;
  return std::make_unique<optim::AdamW>(std::vector<optim::ParamGroup>{g}, s);
}

LrPlan LrPlan::per_epoch(double lr, double epochs, bool cosine, std::vector<double> milestones, double epoch_offset) {
  LrPlan p;
  p.schedule.kind = cosine ? optim::LrSchedule::Kind::cosine : optim::LrSchedule::Kind::step;
  p.schedule.base_lr = lr;
  p.schedule.epochs = epochs;
  p.schedule.milestones = std::move(milestones);
  p.epoch_offset = epoch_offset;
  return p;
}

LrPlan LrPlan::warmup_cosine(double lr, double epochs, double warmup) {
  LrPlan p;
  p.schedule.kind = optim::LrSchedule::Kind::warmup_cosine;
  p.schedule.base_lr = lr;
  p.schedule.epochs = epochs;
  p.schedule.warmup_epochs = warmup;
  p.per_iteration = true;
  return p;
}

double LrPlan::at(int64_t epoch, int64_t i, int64_t iters) const {
  if (per_iteration) return schedule(double(epoch) + double(i) / double(iters));
  return schedule(double(epoch) + epoch_offset);
}

}  // namespace moco::train
