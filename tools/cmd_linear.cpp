// `moco linear`: linear probe on frozen pretrained features (BN frozen; lr 30, no wd, step schedule). The loop lives in tools/supervised.cpp.
#include "tools/command.h"
#include "tools/supervised.h"

namespace moco::cli {
namespace {

Register reg({"linear", "linear probe on frozen pretrained features (BN frozen; lr 30, no wd, step schedule)",
              [](const std::vector<std::string>& argv) { return supervised_command(SupervisedMode::linear, argv); }});

}  // namespace
}  // namespace moco::cli
