// `moco bench`: the flags of the training-step benchmark (train/step_bench.h)
// and its one line of text or JSON. The flags are parsed into BenchOptions
// (all checks there, before any model is built) and run_bench() runs them, so
// the tests drive the same code as the command.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "train/step_bench.h"

namespace moco::cli {

using train::BenchOptions;
using train::BenchResult;
using train::run_bench;

// nullopt after --help (printed). Throws with a clear message on bad values.
std::optional<BenchOptions> parse_bench_flags(const std::vector<std::string>& argv);

int bench_command(const std::vector<std::string>& argv);

}  // namespace moco::cli
