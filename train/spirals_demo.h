// `moco demo`'s problem: a 2-layer MLP learns two generated, interleaved
// spirals by plain SGD, a seconds-long end-to-end check of the tensor,
// autograd and BLAS stack (the loss must go down).
#pragma once
#include <cstdint>
#include <functional>

namespace moco::train {

struct SpiralsDemo {
  int64_t steps = 600, hidden = 64, samples = 1024;
  double lr = 0.5;
  uint64_t seed = 0;
};

struct SpiralsStep {
  int64_t step = 0;
  double loss = 0, accuracy = 0;  // accuracy on the training points, 0 to 1
};

// Trains; `report` sees every tenth of the steps and the last. Returns the
// first and the last step's loss.
std::pair<double, double> train_spirals(const SpiralsDemo& o, const std::function<void(const SpiralsStep&)>& report);

}  // namespace moco::train
