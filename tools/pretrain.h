// `moco pretrain`: MoCo v1 / v2 / v3 self-supervised pretraining with the
// official scripts' flags (main_moco.py of facebookresearch/moco and of
// moco-v3, and the CIFAR-10 demo's --bn-splits / --symmetric / kNN monitor),
// and `moco knn`: the kNN top-1 of a checkpoint's features.
#pragma once
#include <string>
#include <vector>

#include "contrastive/knn.h"
#include "tools/cli_common.h"
#include "train/pretrain.h"

namespace moco::cli {

int pretrain_command(const std::vector<std::string>& argv);
int knn_command(const std::vector<std::string>& argv);

}  // namespace moco::cli
