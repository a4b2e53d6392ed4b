// `moco inspect CHECKPOINT`: what a MoCo encoder learned, as pictures and a
// short report, written to RUN/inspect/ (or --out): the library's
// retrieval.png, inspect.md and inspect.json (train/inspect.h), and
// histograms.png drawn here. The data set, classes and image size come from
// the run folder's config.json and the checkpoint's metadata; flags override them.
#pragma once
#include <string>
#include <vector>

#include "train/inspect.h"
#include "train/retrieval_sheet.h"

namespace moco::cli {

int inspect_command(const std::vector<std::string>& argv);

}  // namespace moco::cli
