// `moco plot RUN [RUN...]`: the curves of run folders in one PNG. The command lives in tools/run_plot.cpp.
#include "tools/command.h"
#include "tools/run_plot.h"

namespace moco::cli {
namespace {

Register reg({"plot",
              "one PNG of run folders' curves: loss vs chance, logits, drift, feature std, uniformity, kNN, lr, m",
              plot_command});

}  // namespace
}  // namespace moco::cli
