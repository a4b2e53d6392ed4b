// `moco finetune`: fine-tune a pretrained backbone end to end with a new classification head. The loop lives in tools/supervised.cpp.
#include "tools/command.h"
#include "tools/supervised.h"

namespace moco::cli {
namespace {

Register reg({"finetune", "fine-tune a pretrained backbone end to end with a new classification head",
              [](const std::vector<std::string>& argv) { return supervised_command(SupervisedMode::finetune, argv); }});

}  // namespace
}  // namespace moco::cli
