// The optimiser and learning-rate schedule of a training recipe: one factory
// and one schedule mechanism for every command (pretraining and the
// supervised ones).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/state_dict.h"
#include "optim/optim.h"

namespace moco::train {

struct OptimizerChoice {
  std::string kind = "sgd";  // sgd | lars | adamw
  double lr = 0.03;          // the lr the optimiser starts from (already scaled by the batch where a recipe does)
  double momentum = 0.9;     // SGD / LARS
  double weight_decay = 1e-4;
};
// The optimiser over the trainable tensors of `params` (requires_grad).
// A UsageError names the kind when it is none of the three, or when nothing is trainable.
std::unique_ptr<optim::Optimizer> make_optimizer(const OptimizerChoice& c, const nn::NamedTensors& params);

// The lr at each step of a run.
struct LrPlan {
  optim::LrSchedule schedule;
  bool per_iteration = false;  // warm-up then cosine per iteration (MoCo v3, ViT fine-tuning); else per epoch
  double epoch_offset = 0;     // added to the epoch of a per-epoch schedule (the CIFAR-10 demo counts from 1)
  // The lr of batch i of `iters` in `epoch` (counted from 0).
  double at(int64_t epoch, int64_t i, int64_t iters) const;

  // Per epoch from `lr`: a half-cycle cosine over `epochs`, or the step schedule (lr / 10 at each of
  // `milestones`), with the epoch counted from `epoch_offset`.
  static LrPlan per_epoch(double lr, double epochs, bool cosine, std::vector<double> milestones = {},
                          double epoch_offset = 0);
  // Per iteration: a linear warm-up from 0 over `warmup` epochs, then a half-cycle cosine.
  static LrPlan warmup_cosine(double lr, double epochs, double warmup);
};

}  // namespace moco::train
