// `moco show-augment`: a contact sheet of what the MoCo augmentations do.
// One row per sample: the image (resized and centre-cropped to the output
// size), then its views as the loader makes them for (seed, epoch, index),
// shown before Normalize so the colours are the real ones.
#include <algorithm>
#include <cstdio>

#include "data/dataset.h"
#include "data/io.h"
#include "data/rng.h"
#include "data/transforms.h"
#include "tensor/random.h"
#include "tools/args.h"
#include "tools/command.h"

namespace moco::cli {
namespace {

using namespace moco::data;

// Pastes `img` (float CHW in [0, 1]) scaled up by `k` (pixel replication) at (y0, x0).
void paste(Image& sheet, const FImage& img, int y0, int x0, int k) {
  Image u = to_u8(img);
  for (int y = 0; y < u.h * k; ++y)
    for (int x = 0; x < u.w * k; ++x)
      for (int c = 0; c < 3; ++c) sheet.at(y0 + y, x0 + x, c) = u.at(y / k, x / k, u.c == 3 ? c : 0);
}

int run(const std::vector<std::string>& argv) {
  Args args("show-augment",
            "Write a PNG contact sheet: N images from a data set, each followed by its augmented views\n"
            "(columns: original | view 1 | view 2), so a person can see what the augmentations do.");
  args.opt("out", "augment.png", "PNG file to write")
      .opt("n", "8", "number of images (rows)")
      .opt("dataset", "fashion-mnist", "data set spec: fashion-mnist[:DIR], cifar10:DIR, stl10:DIR, folder:DIR ...")
      .opt("split", "train", "split to read")
      .opt("preset", "v2", "augmentation preset: v1, v2, v3, cifar-demo, lincls, eval")
      .opt("crop-min", "0", "RandomResizedCrop's smallest scale, as pretrain's --crop-min (0: the preset's own)")
      .opt("size", "0", "output side in pixels; 0: the images' own side (up to 96), else 224")
      .opt("channels", "3", "channels the views have (1 or 3)")
      .opt("seed", "0", "seed (views depend on seed, epoch and sample index, as in training)")
      .opt("epoch", "0", "epoch whose views to show")
      .opt("scale", "0", "pixel replication factor; 0: enough to make each cell at least 96 px")
      .opt("indices", "", "comma-separated sample indices (default: N picked with the seed)");
  if (!args.parse(argv)) return 0;

  const int64_t n = args.integer("n", 1, 256);
  const int channels = int(args.integer("channels", 1, 3));
  MOCO_CHECK(channels == 1 || channels == 3, "--channels must be 1 or 3");
  const uint64_t seed = uint64_t(args.integer("seed", 0));
  const int64_t epoch = args.integer("epoch", 0);
  DatasetPtr ds = open_dataset(args.str("dataset"), args.str("split"));

  std::vector<int64_t> idx = args.int_list("indices");
  if (idx.empty()) {
    Generator gen(mix_seed(seed, Stream::shuffle, 0xC0FFEE));
    for (int64_t i = 0; i < n; ++i) idx.push_back(gen.randint(0, ds->size()));
  }
  for (int64_t i : idx) MOCO_CHECK(i >= 0 && i < ds->size(), "--indices: {} out of range [0, {})", i, ds->size());

  int size = int(args.integer("size", 0, 4096));
  if (size == 0) {
    Image first = ds->image(idx[0]);
    const int side = std::min(first.h, first.w);
    size = side <= 96 ? side : 224;
  }
  PresetOptions o;
  o.size = size;
  o.channels = channels;
  o.normalize = false;
  const double crop_min = args.real("crop-min", 0, 1);
  if (crop_min > 0) o.crop_min = crop_min;
  Pipeline pipe = make_preset(args.str("preset"), o);
  Pipeline show = eval_transform(o);

  int k = int(args.integer("scale", 0, 64));
  if (k == 0) k = std::max(1, (96 + size - 1) / size);
  const int cell = size * k, pad = 4, cols = 1 + int(pipe.views.size());
  Image sheet(pad + int(idx.size()) * (cell + pad), pad + cols * (cell + pad) + pad, 3);
  std::fill(sheet.px.begin(), sheet.px.end(), uint8_t(64));

  std::printf("%s: %s\n%s\n", args.str("out").c_str(), ds->describe().c_str(), pipe.str().c_str());
  std::printf("columns: original (resize + centre crop)");
  for (size_t v = 0; v < pipe.views.size(); ++v) std::printf(" | view %zu", v + 1);
  std::printf("; seed %llu, epoch %lld\n", (unsigned long long)seed, (long long)epoch);
  for (size_t r = 0; r < idx.size(); ++r) {
    Image img = ds->image(idx[r]);
    const int y0 = pad + int(r) * (cell + pad);
    Generator g0(0);
    paste(sheet, show(img, g0)[0], y0, pad, k);
    Generator gen(sample_seed(seed, epoch, idx[r]));  // exactly what the loader draws for this sample
    std::vector<FImage> views = pipe(img, gen);
    for (size_t v = 0; v < views.size(); ++v) paste(sheet, views[v], y0, pad + int(v + 1) * (cell + pad) + pad, k);
    const int64_t label = ds->label(idx[r]);
    std::printf("row %zu: index %lld, label %lld%s%s\n", r + 1, (long long)idx[r], (long long)label,
                label >= 0 && label < ds->num_classes() ? " " : "",
                label >= 0 && label < ds->num_classes() ? ds->classes()[size_t(label)].c_str() : "");
  }
  write_png(args.str("out"), sheet);
  std::printf("wrote %s (%dx%d)\n", args.str("out").c_str(), sheet.w, sheet.h);
  return 0;
}

Register reg({"show-augment", "write a PNG contact sheet of images and their MoCo augmented views", run});

}  // namespace
}  // namespace moco::cli
