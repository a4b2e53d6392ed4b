// `moco bench`: training-step timings (sup / mocov2 / mocov3) on random data.
// The command lives in tools/bench_step.cpp, where the tests reach it.
#include "tools/bench_step.h"
#include "tools/command.h"

namespace moco::cli {
namespace {

Register reg({"bench",
              "time training steps (--method sup | mocov2 | mocov3) on random data as the PyTorch reference does; "
              "--json for a JSON line",
              bench_command});

}  // namespace
}  // namespace moco::cli
