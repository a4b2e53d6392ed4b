#include "data/augment_sheet.h"

#include <algorithm>

#include "data/rng.h"
#include "tensor/random.h"

namespace moco::data {

namespace {

// Pastes `img` (float CHW in [0, 1]) scaled up by `k` (pixel replication) at (y0, x0).
void paste(Image& sheet, const FImage& img, int y0, int x0, int k) {
  Image u = to_u8(img);
  for (int y = 0; y < u.h * k; ++y)
    for (int x = 0; x < u.w * k; ++x)
      for (int c = 0; c < 3; ++c) sheet.at(y0 + y, x0 + x, c) = u.at(y / k, x / k, u.c == 3 ? c : 0);
}

}  // namespace

AugmentSheet augment_sheet(const Dataset& ds, const AugmentSheetOptions& opt) {
  MOCO_CHECK(opt.channels == 1 || opt.channels == 3, "--channels must be 1 or 3");
  AugmentSheet r;
  r.indices = opt.indices;
  std::vector<int64_t>& idx = r.indices;
  if (idx.empty()) {
    Generator gen(mix_seed(opt.seed, Stream::shuffle, 0xC0FFEE));
    for (int64_t i = 0; i < opt.n; ++i) idx.push_back(gen.randint(0, ds.size()));
  }
  for (int64_t i : idx) MOCO_CHECK(i >= 0 && i < ds.size(), "--indices: {} out of range [0, {})", i, ds.size());

  int size = opt.size;
  if (size == 0) {
    Image first = ds.image(idx[0]);
    const int side = std::min(first.h, first.w);
    size = side <= 96 ? side : 224;
  }
  PresetOptions o;
  o.size = size;
  o.channels = opt.channels;
  o.normalize = false;
  if (opt.crop_min > 0) o.crop_min = opt.crop_min;
  r.pipe = make_preset(opt.preset, o);
  Pipeline show = eval_transform(o);

  const int k = opt.scale > 0 ? opt.scale : std::max(1, (96 + size - 1) / size);
  const int cell = size * k, pad = 4, cols = 1 + int(r.pipe.views.size());
  r.sheet = Image(pad + int(idx.size()) * (cell + pad), pad + cols * (cell + pad) + pad, 3);
  std::fill(r.sheet.px.begin(), r.sheet.px.end(), uint8_t(64));
  for (size_t row = 0; row < idx.size(); ++row) {
    Image img = ds.image(idx[row]);
    const int y0 = pad + int(row) * (cell + pad);
    Generator g0(0);
    paste(r.sheet, show(img, g0)[0], y0, pad, k);
    Generator gen(sample_seed(opt.seed, opt.epoch, idx[row]));  // exactly what the loader draws for this sample
    std::vector<FImage> views = r.pipe(img, gen);
    for (size_t v = 0; v < views.size(); ++v)
      paste(r.sheet, views[v], y0, pad + int(v + 1) * (cell + pad) + pad, k);
  }
  return r;
}

}  // namespace moco::data
