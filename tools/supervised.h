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

namespace moco::cli {

enum class SupervisedMode { train, linear, finetune };

// The whole command: flags, run folder, training, metrics, checkpoints.
int supervised_command(SupervisedMode mode, const std::vector<std::string>& argv);

struct EvalResult {
  double loss = 0, top1 = 0;  // mean cross-entropy, top-1 in %
  int64_t n = 0;
};
// Top-1 and loss of a classifier (evaluation mode, no grad) on `ds` with the
// evaluation transform (resize + centre crop, normalisation of `d`).
EvalResult evaluate_classifier(nn::Module& model, const data::DatasetPtr& ds, const DataSetup& d, Device device,
                               int64_t batch_size);

}  // namespace moco::cli
