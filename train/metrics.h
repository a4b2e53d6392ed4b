// What a training loop checks and counts at every step.
#pragma once
#include <cstdint>
#include <string>

#include "tensor/tensor.h"

namespace moco::train {

// Stops the run with a clear message when the loss is NaN or infinite;
// `checkpoint`: this run's last good checkpoint ("" when it has none yet).
void check_finite_loss(double loss, int64_t epoch, int64_t step, int64_t steps_per_epoch, int64_t global_step,
                       const std::string& checkpoint);
double top1_correct(const Tensor& logits, const Tensor& labels);  // number of correct predictions

}  // namespace moco::train
