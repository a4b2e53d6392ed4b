// The supervised commands: `train` (from scratch), `linear` (a linear
// classifier on frozen pretrained features, main_lincls.py) and `finetune`
// (end to end from a pretrained backbone). One loop serves all three; they
// differ in what is trained, the BN mode and the defaults.
#pragma once
#include <string>
#include <vector>

#include "data/dataset.h"
#include "nn/module.h"
#include "tools/cli_common.h"
#include "train/supervised.h"

namespace moco::cli {

// The whole command: flags, run folder, training (train::SupervisedTrainer), printing.
int supervised_command(SupervisedMode mode, const std::vector<std::string>& argv);

}  // namespace moco::cli
