// `moco export-folder`: a split of any data set the project reads, written as a
// torchvision ImageFolder of PNGs (OUT/train/<class>/<index>.png from the train
// split, OUT/val/<class>/<index>.png from the test split), so the ImageFolder
// path can be tried on the data at hand, with colour (--colour) and alpha
// (--rgba) the grayscale sets lack.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"

namespace moco {
class Generator;
}

namespace moco::cli {

// A class name as a folder name: '/', '\\', control characters and the
// characters Windows refuses (<>:"|?*) become '_', as does a leading '.'
// (hidden, or "." / ".."); "" becomes "_". "T-shirt/top" -> "T-shirt_top".
std::string safe_file_name(const std::string& name);

// Grayscale (1 channel, or 2 with alpha, kept) -> RGB (or RGBA): per image a
// dark background colour and a bright foreground colour drawn from `gen`,
// mixed by the gray level (0 = background, 255 = foreground). Their luma
// differ by at least 0.25, so the object stays brighter than its background
// and a model that converts back to gray still sees the shape.
data::Image colourise(const data::Image& gray, Generator& gen);

// Appends an alpha channel (1 -> 2, 3 -> 4 channels): 255 where `mask`'s
// gray level (its luma, computed before any tint) is at least 32, falling
// linearly to 64 at black -- opaque object, see-through background on
// Fashion-MNIST / MNIST's black backgrounds. `mask`: same height and width.
data::Image add_alpha(const data::Image& img, const data::Image& mask);

// The subcommand. Input the command line cannot use throws UsageError
// (tools/args.h): `moco` exits with status 2.
int export_folder_command(const std::vector<std::string>& argv);

}  // namespace moco::cli
