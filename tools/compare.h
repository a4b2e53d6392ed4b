// `moco compare`: the seed study (train/study/compare.h) on the command line:
// its flags, progress, summary table and curves.png (mean curves with
// min-max bands over seeds).
#pragma once
#include <string>
#include <vector>

namespace moco::cli {

int compare_command(const std::vector<std::string>& argv);

}  // namespace moco::cli
