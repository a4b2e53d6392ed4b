// `moco compare`: the seed study (resnet, moco_resnet, vit, moco_vit). The command lives in tools/compare.cpp.
#include "tools/command.h"
#include "tools/compare.h"

namespace moco::cli {
namespace {

Register reg({"compare",
              "the seed study: resnet, moco_resnet, vit, moco_vit on a 4-class task; report.md + curves.png "
              "(--preset quick|full)",
              compare_command});

}  // namespace
}  // namespace moco::cli
