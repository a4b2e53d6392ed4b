// `moco knn`: kNN top-1 of a checkpoint's features. The command lives in tools/pretrain.cpp.
#include "tools/command.h"
#include "tools/pretrain.h"

namespace moco::cli {
namespace {

Register reg({"knn", "kNN top-1 (k 200, T 0.1) of a checkpoint's backbone features on the test split", knn_command});

}  // namespace
}  // namespace moco::cli
