// `moco export-folder`: a data set's splits as an ImageFolder of PNGs. The command lives in tools/export_folder.cpp.
#include "tools/command.h"
#include "tools/export_folder.h"

namespace moco::cli {
namespace {

Register reg({"export-folder", "write a data set's train / test splits as an ImageFolder of PNGs (optional tint, alpha)",
              export_folder_command});

}  // namespace
}  // namespace moco::cli
