// Budgets of the seed study that fit the data: the presets say how many
// optimiser steps a run gets, and these functions turn that into a batch, a
// number of epochs, a labelled subset and a queue size that the split can
// actually supply — or refuse, naming the flag and the numbers, when it can't.
//
// Why steps and not epochs: a preset of "8 epochs at batch 128" is 1,500
// steps on 24,000 labelled images but 8 steps on 214, which trains nothing.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace moco::train {

// Labelled images kept per class for fine-tuning: round(fraction x n), but at
// least `floor` (or all n when a class has fewer). Throws UsageError (naming
// --label-fraction / --label-floor) when a class would keep fewer than 2,
// since a class seen once cannot be learned, only memorised.
std::vector<int64_t> labelled_per_class(const std::vector<int64_t>& class_sizes, double fraction, int64_t floor,
                                        const std::vector<std::string>& class_names);

struct Budget {
  int64_t images = 0;           // images in the split one epoch passes over
  int64_t batch = 0;            // images per step
  int64_t steps_per_epoch = 0;  // full batches (the loaders drop the last partial one)
  int64_t epochs = 0;
  int64_t steps() const { return steps_per_epoch * epochs; }
  int64_t images_seen() const { return steps() * batch; }
};

// Fits a run to a split of `images` images.
// batch: the wanted batch; when `batch_given` (the user's flag) it must fit
//   the split, else it is clamped to images / min_steps_per_epoch, rounded
//   down to a multiple of `multiple_of` (shuffle-BN groups). A clamped batch
//   under `min_batch` means the split is too small for the study: refused.
// epochs: `epochs_given` > 0 is taken as it is; otherwise the fewest epochs
//   that reach `step_target` steps.
// `what` names the run and `flag` the batch flag in messages.
Budget fit_budget(const std::string& what, const std::string& flag, int64_t images, int64_t batch, bool batch_given,
                  int64_t step_target, int64_t epochs_given, int64_t multiple_of = 1, int64_t min_steps_per_epoch = 4,
                  int64_t min_batch = 2);

// The MoCo v1/v2 queue: `given` > 0 must be a multiple of `batch` no larger
// than the pretraining set (an image's own key would come back as its
// negative); otherwise the largest power of two <= `wanted` that is at most a
// quarter of the images, rounded down to a multiple of the batch (at least
// one batch).
int64_t fit_queue(int64_t images, int64_t batch, int64_t given, int64_t wanted = 4096);

}  // namespace moco::train
