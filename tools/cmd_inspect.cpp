// `moco inspect`: pictures and a report of what a MoCo encoder learned. The command lives in tools/inspect.cpp.
#include "tools/command.h"
#include "tools/inspect.h"

namespace moco::cli {
namespace {

Register reg({"inspect", "a MoCo checkpoint's retrieval sheet, logit / queue histograms and kNN top-1 (PNG + report)",
              inspect_command});

}  // namespace
}  // namespace moco::cli
