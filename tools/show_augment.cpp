// `moco show-augment`: a contact sheet of what the MoCo augmentations do
// (data/augment_sheet.h), written as a PNG, and what each row shows.
#include <cstdio>

#include "data/augment_sheet.h"
#include "data/io.h"
#include "tools/args.h"
#include "tools/command.h"

namespace moco::cli {

int show_augment_command(const std::vector<std::string>& argv) {
  using namespace moco::data;
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

  AugmentSheetOptions o;
  o.n = args.integer("n", 1, 256);
  o.channels = int(args.integer("channels", 1, 3));
  MOCO_CHECK(o.channels == 1 || o.channels == 3, "--channels must be 1 or 3");
  o.seed = uint64_t(args.integer("seed", 0));
  o.epoch = args.integer("epoch", 0);
  DatasetPtr ds = open_dataset(args.str("dataset"), args.str("split"));
  o.indices = args.int_list("indices");
  o.size = int(args.integer("size", 0, 4096));
  o.crop_min = args.real("crop-min", 0, 1);
  o.preset = args.str("preset");
  o.scale = int(args.integer("scale", 0, 64));
  const AugmentSheet s = augment_sheet(*ds, o);

  std::printf("%s: %s\n%s\n", args.str("out").c_str(), ds->describe().c_str(), s.pipe.str().c_str());
  std::printf("columns: original (resize + centre crop)");
  for (size_t v = 0; v < s.pipe.views.size(); ++v) std::printf(" | view %zu", v + 1);
  std::printf("; seed %llu, epoch %lld\n", (unsigned long long)o.seed, (long long)o.epoch);
  for (size_t r = 0; r < s.indices.size(); ++r) {
    const int64_t label = ds->label(s.indices[r]);
    const bool named = label >= 0 && label < ds->num_classes();
    std::printf("row %zu: index %lld, label %lld%s%s\n", r + 1, (long long)s.indices[r], (long long)label,
                named ? " " : "", named ? ds->classes()[size_t(label)].c_str() : "");
  }
  write_png(args.str("out"), s.sheet);
  std::printf("wrote %s (%dx%d)\n", args.str("out").c_str(), s.sheet.w, s.sheet.h);
  return 0;
}

}  // namespace moco::cli
