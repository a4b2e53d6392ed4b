// `moco export-folder`: the flags of writing a data set as an ImageFolder of
// PNGs (train/export_folder.h) and what it says it wrote.
#pragma once
#include <string>
#include <vector>

#include "train/export_folder.h"

namespace moco::cli {

using train::add_alpha;
using train::colourise;
using train::safe_file_name;

// The subcommand. Input the command line cannot use throws UsageError
// (tools/args.h): `moco` exits with status 2.
int export_folder_command(const std::vector<std::string>& argv);

}  // namespace moco::cli
