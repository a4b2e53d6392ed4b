// `moco train`: supervised training from scratch (the seed study's baseline). The loop lives in tools/supervised.cpp.
#include "tools/command.h"
#include "tools/supervised.h"

namespace moco::cli {
namespace {

Register reg({"train", "supervised training from scratch (the seed study's baseline)",
              [](const std::vector<std::string>& argv) { return supervised_command(SupervisedMode::train, argv); }});

}  // namespace
}  // namespace moco::cli
