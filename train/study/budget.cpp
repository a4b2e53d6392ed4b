#include "train/study/budget.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace moco::train {

std::vector<int64_t> labelled_per_class(const std::vector<int64_t>& class_sizes, double fraction, int64_t floor,
                                        const std::vector<std::string>& class_names) {
  MOCO_USAGE_CHECK(fraction > 0 && fraction <= 1, "--label-fraction must be in (0, 1], got {:g}", fraction);
  MOCO_USAGE_CHECK(floor >= 0, "--label-floor must be at least 0, got {}", floor);
  std::vector<int64_t> out;
  for (size_t c = 0; c < class_sizes.size(); ++c) {
    const int64_t n = class_sizes[c];
    const int64_t k = std::min(n, std::max({int64_t(1), int64_t(std::llround(fraction * double(n))), floor}));
    const std::string name = c < class_names.size() ? class_names[c] : std::to_string(c);
    MOCO_USAGE_CHECK(k >= 2,
                     "--label-fraction {:g} leaves class '{}' with {} labelled image{} (of {} in the split, --label-floor "
                     "{}); at least 2 per class are needed: raise --label-fraction or --label-floor, or add images",
                     fraction, name, k, k == 1 ? "" : "s", n, floor);
    out.push_back(k);
  }
  return out;
}

Budget fit_budget(const std::string& what, const std::string& flag, int64_t images, int64_t batch, bool batch_given,
                  int64_t step_target, int64_t epochs_given, int64_t multiple_of, int64_t min_steps_per_epoch, int64_t min_batch) {
  MOCO_USAGE_CHECK(batch >= 1, "{}: {} must be at least 1, got {}", what, flag, batch);
  MOCO_USAGE_CHECK(multiple_of >= 1 && min_steps_per_epoch >= 1, "{}: internal: bad budget constraints", what);
  Budget b;
  b.images = images;
  if (batch_given) {
    MOCO_USAGE_CHECK(batch <= images, "{}: {} {} is larger than the {} images of the split; give at most {}", what, flag,
                     batch, images, images);
    MOCO_USAGE_CHECK(batch % multiple_of == 0, "{}: {} {} must be a multiple of {} (the shuffle-BN groups)", what, flag,
                     batch, multiple_of);
    b.batch = batch;
  } else {
    b.batch = std::min(batch, images / min_steps_per_epoch) / multiple_of * multiple_of;
    const int64_t least = std::max({multiple_of, min_batch, int64_t(2)});
    MOCO_USAGE_CHECK(b.batch >= least,
                     "{}: the split has {} images, too few for {} steps an epoch of at least {} images ({} images or "
                     "more); this data set is too small for the study (use more images, a larger --label-fraction / "
                     "--label-floor / --data-fraction)",
                     what, images, min_steps_per_epoch, least, least * min_steps_per_epoch);
  }
  b.steps_per_epoch = images / b.batch;
  if (epochs_given > 0) {
    b.epochs = epochs_given;
  } else {
    MOCO_USAGE_CHECK(step_target >= 1, "{}: internal: no epochs and no step target", what);
    b.epochs = std::max<int64_t>(1, (step_target + b.steps_per_epoch - 1) / b.steps_per_epoch);
  }
  return b;
}

int64_t fit_queue(int64_t images, int64_t batch, int64_t given, int64_t wanted) {
  if (given > 0) {
    MOCO_USAGE_CHECK(given <= images,
                     "--moco-k {} is larger than the {} pretraining images: an image's own earlier key would sit in the "
                     "queue as its negative; give at most {} (a quarter of the images or less is best)",
                     given, images, images / batch * batch);
    MOCO_USAGE_CHECK(given % batch == 0, "--moco-k {} must be a multiple of the pretraining batch {}", given, batch);
    return given;
  }
  int64_t k = 1;
  while (k * 2 <= wanted && 4 * k * 2 <= images) k *= 2;
  return std::max(batch, k / batch * batch);
}

}  // namespace moco::train
