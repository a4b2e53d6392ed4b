#include "data/image_stats.h"

#include <algorithm>
#include <vector>

#include "tensor/error.h"

namespace moco::data {

ImageStats sample_image_stats(const Dataset& ds, int64_t max_samples) {
  MOCO_CHECK(ds.size() > 0, "{}: no images", ds.describe());
  MOCO_CHECK(max_samples > 0, "sample_image_stats: max_samples must be positive, got {}", max_samples);
  const int64_t n = ds.size(), k = std::min(n, max_samples);
  std::vector<int> sides;
  ImageStats s;
  for (int64_t j = 0; j < k; ++j) {
    const Image img = ds.image(j * n / k);
    sides.push_back(std::min(img.h, img.w));
    (img.c >= 3 ? s.colour : s.gray) += 1;
  }
  std::sort(sides.begin(), sides.end());
  s.sampled = k;
  s.min_side = sides.front();
  s.max_side = sides.back();
  s.median_side = sides[sides.size() / 2];
  return s;
}

}  // namespace moco::data
