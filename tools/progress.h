// A one-line progress bar for long loops: epoch, step, named values (loss,
// lr, ...), images/s and ETA. Redraws in place on a terminal; elsewhere
// (CI logs, pipes) prints a plain line every few seconds.
#pragma once
#include <chrono>
#include <memory>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "train/hooks.h"

namespace moco::cli {

class Progress {
 public:
  // `done`: steps finished before this bar started (an epoch resumed mid-way).
  Progress(std::string label, int64_t total_steps, int64_t items_per_step, int64_t done = 0);
  // Call after each step with the values to show, e.g. {{"loss", 4.1}, {"lr", 0.03}}.
  void step(const std::vector<std::pair<std::string, double>>& values);
  // Finishes the line; returns seconds since construction.
  double done();
  double items_per_second() const;

 private:
  void draw(bool final);
  std::string label_;
  int64_t total_, items_per_step_, count_ = 0, done_ = 0;
  std::vector<std::pair<std::string, double>> values_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool tty_;
};

// Hooks that draw a Progress bar for each pass of a library training loop.
train::TrainingHooks progress_hooks();

}  // namespace moco::cli
