// `moco ablate --what m|K|T|shuffle-bn`: the MoCo v1 paper's ablations at a
// small scale. For each value of one setting and each seed, one `moco
// pretrain` run (in-process; the short MoCo v2 ResNet recipe of `moco compare
// --preset quick`, everything but the ablated setting fixed), measuring kNN
// top-1 at random init and at the end and the pretext (instance
// discrimination) accuracy. Writes table.md (per-seed and mean ± std values,
// paired differences against the recipe's own value, and a paragraph on
// where the result agrees with the paper and where it differs, generated
// from the numbers), summary.json, plot.png and every run's folder.
#pragma once
#include <string>
#include <vector>

namespace moco::cli {

int ablate_command(const std::vector<std::string>& argv);

}  // namespace moco::cli
