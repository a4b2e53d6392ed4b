// `moco compare`: the seed study. Four models on one small classification
// task with the same fine-tuning budget: resnet (supervised from scratch),
// moco_resnet (MoCo-pretrained on the task's images without labels, then
// fine-tuned), vit and moco_vit. Writes report.md (table, exact commands,
// data), curves.png (training loss and validation top-1 per epoch of the
// four) and keeps every sub-run's folder (metrics, checkpoints).
#pragma once
#include <string>
#include <vector>

#include "train/run_dir.h"

namespace moco::cli {

using namespace moco::train;

int compare_command(const std::vector<std::string>& argv);

// Mean absolute epoch-to-epoch change of a curve (0 for fewer than 2 points):
// the report's smoothness figure (lower is smoother).
double mean_abs_change(const std::vector<double>& v);

}  // namespace moco::cli
