// The contact sheet of `moco show-augment`: one row per sample, the image
// (resized and centre-cropped to the output size), then its views as the
// loader makes them for (seed, epoch, index), before Normalize so the
// colours are the real ones.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/image.h"
#include "data/transforms.h"

namespace moco::data {

struct AugmentSheetOptions {
  std::string preset = "v2";       // make_preset's name
  std::vector<int64_t> indices;    // the samples shown; empty: `n` drawn with the seed
  int64_t n = 8;
  int size = 0;                    // output side; 0: the first image's short side up to 96 px, else 224
  int channels = 3;                // of the views, 1 or 3
  double crop_min = 0;             // RandomResizedCrop's smallest scale (0: the preset's own)
  uint64_t seed = 0;
  int64_t epoch = 0;
  int scale = 0;                   // pixel replication; 0: enough for cells of at least 96 px
};

struct AugmentSheet {
  Image sheet;
  std::vector<int64_t> indices;  // the rows' samples
  Pipeline pipe;                 // the augmentation drawn
};

// Checks the indices against `ds` (a clear error when out of range), then draws the sheet.
AugmentSheet augment_sheet(const Dataset& ds, const AugmentSheetOptions& o);

}  // namespace moco::data
