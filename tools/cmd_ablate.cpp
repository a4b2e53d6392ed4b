// `moco ablate`: the MoCo paper's ablations (m, K, T, shuffle-BN) at a small scale. The command lives in tools/ablate.cpp.
#include "tools/ablate.h"
#include "tools/command.h"

namespace moco::cli {
namespace {

Register reg({"ablate",
              "the MoCo paper's ablations at a small scale (--what m|K|T|shuffle-bn): table.md + plot.png over seeds",
              ablate_command});

}  // namespace
}  // namespace moco::cli
