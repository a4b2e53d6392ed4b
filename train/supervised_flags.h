// The flags of `moco train`, `moco linear` and `moco finetune` as the
// library's supervised recipe (train/supervised.h): "auto" values come from
// the recipe, so config.json records what a run actually used.
#pragma once
#include <string>

#include "train/checkpoint.h"
#include "train/data_setup.h"
#include "train/flags.h"
#include "train/supervised.h"

namespace moco::train {

// Loads --pretrained into `pre` (linear and finetune; not when resuming: the
// run has its weights and flags already) and takes its model flags, opens
// the data into `d` (the test split cut to --val-samples), and fills every
// "auto" value from the recipe. A --batch-size larger than the training split
// is cut to it before the lr is scaled from it (the lr must follow the batch
// the optimiser sees); returns a note saying so, else "".
std::string resolve_supervised_flags(SupervisedMode mode, Flags& a, Pretrained& pre, DataSetup& d);

// The recipe the resolved flags describe; an error when the warm-up does not end before the last epoch.
SupervisedRecipe supervised_recipe(SupervisedMode mode, const Flags& a);

}  // namespace moco::train
