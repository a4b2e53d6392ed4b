// `moco pretrain`: MoCo v1 / v2 / v3 pretraining. The command lives in tools/pretrain.cpp.
#include "tools/command.h"
#include "tools/pretrain.h"

namespace moco::cli {
namespace {

Register reg({"pretrain", "MoCo v1/v2/v3 self-supervised pretraining (official flags; kNN monitor; --resume)",
              pretrain_command});

}  // namespace
}  // namespace moco::cli
