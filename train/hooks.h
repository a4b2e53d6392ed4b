// How a program watches a training loop of the library: the command line
// draws progress bars and plots through these; a program of its own may
// leave any of them empty.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "train/run_dir.h"

namespace moco::train {

struct TrainingHooks {
  // A pass over batches begins: `label` ("train epoch 3/10", "kNN monitor"),
  // `steps` batches of `batch` images, `done` of them already done (an epoch resumed mid-way).
  std::function<void(const std::string& label, int64_t steps, int64_t batch, int64_t done)> begin;
  // After each batch, the numbers worth showing (loss, lr, accuracy, ...).
  std::function<void(const MetricsRow& shown)> step;
  // The pass is over.
  std::function<void()> end;
  // An epoch's metrics row was written and its checkpoint saved.
  std::function<void(const MetricsRow& row)> epoch_done;

  void on_begin(const std::string& label, int64_t steps, int64_t batch, int64_t done = 0) const {
    if (begin) begin(label, steps, batch, done);
  }
  void on_step(const MetricsRow& shown) const {
    if (step) step(shown);
  }
  void on_end() const {
    if (end) end();
  }
};

// How a run ended: all its epochs (or those of this invocation) done, or a
// stop signal (`signal`, SIGINT or SIGTERM) with the checkpoint written at
// `epoch` (1-based), `step` of `steps`.
struct RunEnd {
  bool stopped = false;
  int64_t epoch = 0, step = 0, steps = 0;
  int signal = 0;
};

}  // namespace moco::train
