#include "tools/export_folder.h"

#include <cstdio>

#include "tools/args.h"

namespace moco::cli {

int export_folder_command(const std::vector<std::string>& argv) {
  Args args("export-folder",
            "Write a data set's train and test splits as a torchvision ImageFolder of PNGs:\n"
            "OUT/train/<class>/<index>.png (train split) and OUT/val/<class>/<index>.png (test split),\n"
            "<index> being the image's index in its split. Read it back with --dataset folder --data OUT.");
  args.opt("dataset", "fashion-mnist", "fashion-mnist | mnist | cifar10 | cifar100 | stl10 | folder (or a spec: cifar10:DIR)")
      .opt("data", "", "the data set's folder (Fashion-MNIST is found automatically)")
      .opt("classes", "", "classes to export, by index or name, comma-separated; empty: every class with images")
      .opt("train-per-class", "0", "images per class from the train split, a seeded random subset (0: all; a class "
                                   "with fewer gives all it has)")
      .opt("val-per-class", "0", "the same for the test split, written as val/")
      .opt("size", "0", "resize every image to N x N (bilinear, antialiased when shrinking, as PIL / torchvision; "
                        "the aspect ratio is not kept); 0: keep each image's size")
      .flag("colour", "grayscale images become RGB: per image a random dark background colour and bright "
                      "foreground colour, mixed by the gray level (the colours carry no class information)")
      .alias("--color", "colour")
      .opt("rgba", "0", "fraction of the images (exact, seeded, per split) written with an alpha channel (RGBA, or "
                        "gray + alpha without --colour): 255 on the object (gray level >= 32), down to 64 on a black "
                        "background; the loader drops it. Images that already have alpha keep theirs")
      .opt("seed", "0", "seed of the subsets, the tints and the choice of images with alpha")
      .opt("out", "", "folder to write (must be empty or absent)")
      .flag("overwrite", "write into a non-empty --out, replacing its train/ and val/ (nothing else in it)");
  if (!args.parse(argv)) return 0;

  train::ExportOptions o;
  o.dataset = args.str("dataset");
  o.data = args.str("data");
  o.classes = args.str("classes");
  o.out = args.str("out");
  o.overwrite = args.on("overwrite");
  MOCO_USAGE_CHECK(!o.out.empty(), "--out: give the folder to write");
  o.train_per_class = args.integer("train-per-class", 0);
  o.val_per_class = args.integer("val-per-class", 0);
  o.size = int(args.integer("size", 0, 1024));
  o.rgba = args.real("rgba", 0, 1);
  o.seed = uint64_t(args.integer("seed", 0));
  o.colour = args.on("colour");
  train::ExportHooks hooks;
  hooks.begin = [&](const std::string& spec) { std::printf("%s -> %s\n", spec.c_str(), o.out.c_str()); };
  hooks.split_done = [](const train::ExportedSplit& s) {
    std::string per;
    for (auto& [folder, n] : s.per_class) per += fmt::format("{}{} {}", per.empty() ? "" : ", ", folder, n);
    std::printf("%s/: %lld images (%lld with alpha) from %s: %s\n", s.name.c_str(), (long long)s.images,
                (long long)s.with_alpha, s.source.c_str(), per.c_str());
  };
  const int64_t total = train::export_folder(o, hooks);
  std::printf("wrote %lld PNGs to %s (%s, %s, seed %llu); read them with --dataset folder --data %s\n",
              (long long)total, o.out.c_str(), o.size ? fmt::format("{}x{}", o.size, o.size).c_str() : "original size",
              o.colour ? "grayscale tinted" : "original channels", (unsigned long long)o.seed, o.out.c_str());
  return 0;
}

}  // namespace moco::cli
