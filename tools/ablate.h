// `moco ablate --what m|K|T|shuffle-bn`: the MoCo v1 paper's ablations at a
// small scale (train/study/ablate.h) on the command line: its flags,
// progress, summary table and plot.png (kNN and pretext accuracy against the
// value, pretext accuracy during training).
#pragma once
#include <string>
#include <vector>

namespace moco::cli {

int ablate_command(const std::vector<std::string>& argv);

}  // namespace moco::cli
