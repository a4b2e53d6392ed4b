#include "train/metrics.h"

#include <cmath>
#include <filesystem>
#include <vector>

#include "autograd/ops.h"

namespace moco::train {

namespace fs = std::filesystem;

void check_finite_loss(double loss, int64_t epoch, int64_t step, int64_t steps_per_epoch, int64_t global_step,
                       const std::string& checkpoint) {
  if (std::isfinite(loss)) return;
  const bool have = !checkpoint.empty() && fs::is_regular_file(checkpoint);
  fail("the loss became {} at epoch {}, step {}/{} (global step {}); stopping. {}", loss, epoch + 1, step + 1,
       steps_per_epoch, global_step + 1,
       have ? "The last good checkpoint is " + checkpoint + " (continue with --resume, perhaps with a lower --lr)"
            : std::string("This run has no checkpoint yet (its first epoch did not finish)"));
}

double top1_correct(const Tensor& logits, const Tensor& labels) {
  std::vector<int64_t> pred = argmax(logits, 1).to(Device::cpu()).to_vector<int64_t>();
  std::vector<int64_t> y = labels.to(Device::cpu()).to_vector<int64_t>();
  double c = 0;
  for (size_t i = 0; i < pred.size() && i < y.size(); ++i) c += pred[i] == y[i];
  return c;
}

}  // namespace moco::train
