// What a data set's images look like, from an even sample of them: the model
// input is chosen from this when no flag sets it, so one odd image (a gray
// file first in a colour folder, a 1x1 thumbnail) cannot decide it.
#pragma once
#include <cstdint>

#include "data/dataset.h"

namespace moco::data {

struct ImageStats {
  int64_t sampled = 0;
  int median_side = 0;        // median of the short sides, min(h, w)
  int min_side = 0, max_side = 0;
  int64_t gray = 0, colour = 0;  // sampled images of 1-2 / 3-4 channels (alpha not counted)
};

// Decodes up to `max_samples` images spread evenly over `ds` (all of a smaller
// set; ImageFolder's order is by class, so every class is sampled). An image
// that cannot be read throws, naming its file.
ImageStats sample_image_stats(const Dataset& ds, int64_t max_samples = 64);

}  // namespace moco::data
