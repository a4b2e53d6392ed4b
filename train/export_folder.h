// A split of any data set the project reads, written as a torchvision
// ImageFolder of PNGs (OUT/train/<class>/<index>.png from the train split,
// OUT/val/<class>/<index>.png from the test split, <index> being the image's
// index in its split), so the ImageFolder path can be tried on the data at
// hand, with colour and alpha the grayscale sets lack (`moco export-folder`).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "data/image.h"

namespace moco {
class Generator;
}

namespace moco::train {

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

struct ExportOptions {
  std::string dataset = "fashion-mnist", data;  // the source: data set and its folder ("": found automatically)
  std::string classes;                          // by index or name, comma-separated; "": every class with images
  std::string out;                              // must be empty or absent, unless overwrite
  bool overwrite = false;                       // replace out's train/ and val/ (nothing else in it)
  int64_t train_per_class = 0, val_per_class = 0;  // a seeded random subset per class (0: all)
  int size = 0;                                 // resize to size x size (0: keep)
  bool colour = false;                          // grayscale images tinted (colourise)
  double rgba = 0;                              // fraction of each split's images given alpha (add_alpha)
  uint64_t seed = 0;                            // of the subsets, the tints and the images with alpha
};

// What one split became.
struct ExportedSplit {
  std::string name;    // train | val
  std::string source;  // the source split, described
  int64_t images = 0, with_alpha = 0;
  std::vector<std::pair<std::string, int64_t>> per_class;  // folder, images
};

struct ExportHooks {
  std::function<void(const std::string& spec)> begin;     // checks passed, writing starts
  std::function<void(const ExportedSplit& s)> split_done;
};

// Writes the ImageFolder; returns the number of PNGs. Input the command line
// cannot use throws UsageError (`moco` exits with status 2).
int64_t export_folder(const ExportOptions& o, const ExportHooks& hooks = {});

}  // namespace moco::train
