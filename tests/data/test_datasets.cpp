// Data sets: tiny files in every format made here (IDX plain and gzip,
// CIFAR-10/100, STL-10, ImageFolder), the bad inputs the issue lists, the
// subsets, and the real Fashion-MNIST when Debian's package is installed.
#include <doctest/doctest.h>
#include <zlib.h>

#include <algorithm>
#include <set>

#include "data/dataset.h"
#include "data/io.h"
#include "fixture.h"

using namespace moco;
using namespace moco::data;
using moco::testing::TempDir;
using moco::testing::write_bytes;

namespace {

void put_be32(std::vector<uint8_t>& v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(uint8_t(x >> s));
}

// n images of h x w, pixel (i, y, x) = (i * 31 + y * 7 + x) & 255; label i % 3.
std::vector<uint8_t> idx_images(uint32_t n, uint32_t h, uint32_t w, uint32_t magic = 0x803) {
  std::vector<uint8_t> v;
  put_be32(v, magic), put_be32(v, n), put_be32(v, h), put_be32(v, w);
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t y = 0; y < h; ++y)
      for (uint32_t x = 0; x < w; ++x) v.push_back(uint8_t((i * 31 + y * 7 + x) & 255));
  return v;
}
std::vector<uint8_t> idx_labels(uint32_t n, uint32_t magic = 0x801) {
  std::vector<uint8_t> v;
  put_be32(v, magic), put_be32(v, n);
  for (uint32_t i = 0; i < n; ++i) v.push_back(uint8_t(i % 3));
  return v;
}

void write_gz(const std::string& path, const std::vector<uint8_t>& data) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  gzwrite(f, data.data(), unsigned(data.size()));
  gzclose(f);
}

// CIFAR record: label byte(s), then R plane, G plane, B plane (32x32 each).
std::vector<uint8_t> cifar_records(int n, int label_bytes, int label_mod) {
  std::vector<uint8_t> v;
  for (int i = 0; i < n; ++i) {
    for (int b = 0; b < label_bytes; ++b) v.push_back(uint8_t((i + b) % label_mod));
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 1024; ++p) v.push_back(uint8_t((i * 11 + c * 80 + p) & 255));
  }
  return v;
}

Image pattern(int h, int w, int c, int seed) {
  Image img(h, w, c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < c; ++ch) img.at(y, x, ch) = uint8_t((y * 13 + x * 5 + ch * 70 + seed * 17) & 255);
  return img;
}

}  // namespace

TEST_CASE("IDX: plain and gzip files read the same; pixels and labels in place") {
  TempDir t;
  write_bytes(t / "img", idx_images(5, 4, 3));
  write_bytes(t / "lab", idx_labels(5));
  write_gz(t / "img.gz", idx_images(5, 4, 3));
  write_gz(t / "lab.gz", idx_labels(5));
  auto a = load_idx(t / "img", t / "lab");
  auto b = load_idx(t / "img.gz", t / "lab.gz");
  REQUIRE(a->size() == 5);
  CHECK(a->num_classes() == 3);
  for (int64_t i = 0; i < 5; ++i) {
    Image x = a->image(i), y = b->image(i);
    CHECK(x.h == 4);
    CHECK(x.w == 3);
    CHECK(x.c == 1);
    CHECK(x.px == y.px);
    CHECK(int(x.at(2, 1, 0)) == int((i * 31 + 2 * 7 + 1) & 255));
    CHECK(a->label(i) == i % 3);
  }
}

TEST_CASE("gzip: concatenated members read as one stream; a stream inflating past the limit is refused") {
  TempDir t;
  const auto img = idx_images(40, 28, 28);
  const size_t half = img.size() / 2;
  write_gz(t / "a.gz", {img.begin(), img.begin() + long(half)});
  write_gz(t / "b.gz", {img.begin() + long(half), img.end()});
  auto joined = read_file(t / "a.gz");
  const auto b = read_file(t / "b.gz");
  joined.insert(joined.end(), b.begin(), b.end());  // what `cat a.gz b.gz` makes
  write_bytes(t / "cat.gz", joined);
  CHECK(read_maybe_gzip(t / "cat.gz") == img);
  write_gz(t / "img.gz", img);
  CHECK(read_maybe_gzip(t / "img.gz", img.size()) == img);  // exactly at the limit is fine
  CHECK_ERROR_HAS(read_maybe_gzip(t / "img.gz", img.size() - 1), t / "img.gz", "decompression bomb",
                  std::to_string(img.size() - 1));
  CHECK_ERROR_HAS(read_maybe_gzip(t / "cat.gz", 1000), t / "cat.gz", "decompression bomb");
}

TEST_CASE("IDX: bad files give errors naming the file and the problem") {
  TempDir t;
  write_bytes(t / "lab", idx_labels(5));
  SUBCASE("missing path") { CHECK_ERROR_HAS(load_idx(t / "nope", t / "lab"), t / "nope", "cannot open"); }
  SUBCASE("wrong magic") {
    write_bytes(t / "img", idx_images(5, 4, 3, 0x1234));
    CHECK_ERROR_HAS(load_idx(t / "img", t / "lab"), t / "img", "wrong magic");
  }
  SUBCASE("labels given as images") {
    write_bytes(t / "img", idx_images(5, 4, 3));
    CHECK_ERROR_HAS(load_idx(t / "img", t / "img"), t / "img", "0x00000801");
  }
  SUBCASE("truncated") {
    auto v = idx_images(5, 4, 3);
    v.resize(v.size() - 7);
    write_bytes(t / "img", v);
    CHECK_ERROR_HAS(load_idx(t / "img", t / "lab"), t / "img", "truncated");
    write_bytes(t / "short", {0, 0, 8});
    CHECK_ERROR_HAS(load_idx(t / "short", t / "lab"), t / "short", "truncated");
  }
  SUBCASE("truncated gzip stream") {
    write_gz(t / "img.gz", idx_images(50, 28, 28));
    auto raw = read_file(t / "img.gz");
    raw.resize(raw.size() / 2);
    write_bytes(t / "half.gz", raw);
    CHECK_ERROR_HAS(load_idx(t / "half.gz", t / "lab"), t / "half.gz", "truncated gzip");
  }
  SUBCASE("corrupt gzip stream") {
    write_gz(t / "img.gz", idx_images(50, 28, 28));
    auto raw = read_file(t / "img.gz");
    for (size_t i = 20; i < 60; ++i) raw[i] ^= 0x5a;
    write_bytes(t / "bad.gz", raw);
    CHECK_ERROR_HAS(load_idx(t / "bad.gz", t / "lab"), t / "bad.gz");
  }
  SUBCASE("image and label counts differ") {
    write_bytes(t / "img", idx_images(4, 4, 3));
    CHECK_ERROR_HAS(load_idx(t / "img", t / "lab"), t / "img", t / "lab", "4 images", "5 labels");
  }
}

TEST_CASE("CIFAR-10 and CIFAR-100 binary: layout, labels, bad files") {
  TempDir t;
  const std::string d10 = t / "cifar-10-batches-bin";
  for (int i = 1; i <= 5; ++i) write_bytes(d10 + "/data_batch_" + std::to_string(i) + ".bin", cifar_records(2, 1, 10));
  write_bytes(d10 + "/test_batch.bin", cifar_records(3, 1, 10));
  auto tr = cifar10(t.path.string(), "train");  // the parent folder works too
  auto te = cifar10(d10, "test");
  CHECK(tr->size() == 10);
  CHECK(te->size() == 3);
  CHECK(tr->classes()[0] == "airplane");
  Image im = te->image(2);
  REQUIRE(im.c == 3);
  // planar CHW on disk -> HWC: pixel p = y*32+x of channel c is (i*11 + c*80 + p) & 255
  CHECK(int(im.at(1, 2, 0)) == ((2 * 11 + 0 + 34) & 255));
  CHECK(int(im.at(1, 2, 2)) == ((2 * 11 + 160 + 34) & 255));
  CHECK(te->label(2) == 2);

  const std::string d100 = t / "cifar-100-binary";
  write_bytes(d100 + "/train.bin", cifar_records(4, 2, 20));
  auto fine = cifar100(d100, "train");
  auto coarse = cifar100(d100, "train", true);
  CHECK(fine->num_classes() == 100);
  CHECK(coarse->num_classes() == 20);
  CHECK(coarse->label(3) == 3);  // first label byte: coarse
  CHECK(fine->label(3) == 4);    // second: fine

  SUBCASE("truncated batch") {
    auto v = cifar_records(2, 1, 10);
    v.pop_back();
    write_bytes(d10 + "/test_batch.bin", v);
    CHECK_ERROR_HAS(cifar10(d10, "test"), "test_batch.bin", "truncated", "3073");
  }
  SUBCASE("missing batch") {
    std::filesystem::remove(d10 + "/data_batch_4.bin");
    CHECK_ERROR_HAS(cifar10(d10, "train"), "data_batch_4.bin", "missing");
  }
  SUBCASE("CIFAR-100 file read as CIFAR-10: record size mismatch") {
    write_bytes(d10 + "/test_batch.bin", cifar_records(3, 2, 100));
    CHECK_ERROR_HAS(cifar10(d10, "test"), "test_batch.bin");
  }
  SUBCASE("not a CIFAR folder") { CHECK_ERROR_HAS(cifar10(t / "nothing", "train"), "no such directory"); }
}

TEST_CASE("STL-10 binary: column-major images, 1-based labels, unlabeled split, bad files") {
  TempDir t;
  const std::string d = t / "stl10_binary";
  auto images = [](int n, int seed) {
    std::vector<uint8_t> v;
    for (int i = 0; i < n; ++i)
      for (int c = 0; c < 3; ++c)
        for (int x = 0; x < 96; ++x)
          for (int y = 0; y < 96; ++y) v.push_back(uint8_t((seed + i * 3 + c * 50 + y * 2 + x) & 255));
    return v;
  };
  write_bytes(d + "/train_X.bin", images(3, 0));
  write_bytes(d + "/train_y.bin", {1, 10, 4});
  write_bytes(d + "/unlabeled_X.bin", images(2, 100));
  Stl10Dataset tr(t.path.string(), "train");
  REQUIRE(tr.size() == 3);
  CHECK(tr.label(0) == 0);
  CHECK(tr.label(1) == 9);
  Image im = tr.image(1);
  CHECK(im.h == 96);
  CHECK(int(im.at(5, 9, 2)) == ((1 * 3 + 100 + 5 * 2 + 9) & 255));  // row y=5, column x=9
  Stl10Dataset un(d, "unlabeled");
  CHECK(un.size() == 2);
  CHECK(un.label(1) == -1);
  Stl10Dataset both(d, "train+unlabeled");
  CHECK(both.size() == 5);
  CHECK(both.label(4) == -1);
  CHECK(both.image(3).px == un.image(0).px);

  SUBCASE("truncated images") {
    auto v = images(3, 0);
    v.resize(v.size() - 100);
    write_bytes(d + "/train_X.bin", v);
    CHECK_ERROR_HAS(Stl10Dataset(d, "train"), "train_X.bin", "truncated");
  }
  SUBCASE("labels do not match") {
    write_bytes(d + "/train_y.bin", {1, 2});
    CHECK_ERROR_HAS(Stl10Dataset(d, "train"), "train_y.bin", "2 labels", "3 images");
  }
  SUBCASE("label out of range") {
    write_bytes(d + "/train_y.bin", {1, 0, 2});
    CHECK_ERROR_HAS(Stl10Dataset(d, "train"), "train_y.bin", "outside 1..10");
  }
  SUBCASE("bad split") { CHECK_ERROR_HAS(Stl10Dataset(d, "validation"), "split"); }
}

TEST_CASE("image decoding: PNG, JPEG, BMP; gray, RGB, RGBA; corrupt and non-image files") {
  TempDir t;
  Image rgb = pattern(9, 11, 3, 1), gray = pattern(9, 11, 1, 2), rgba = pattern(9, 11, 4, 3);
  write_png(t / "rgb.png", rgb);
  write_png(t / "gray.png", gray);
  write_png(t / "rgba.png", rgba);
  write_bmp(t / "rgb.bmp", rgb);
  write_jpg(t / "rgb.jpg", rgb, 95);
  CHECK(load_image(t / "rgb.png").px == rgb.px);
  CHECK(load_image(t / "gray.png").px == gray.px);
  CHECK(load_image(t / "rgba.png").c == 4);
  CHECK(load_image(t / "rgb.bmp").px == rgb.px);
  Image j = load_image(t / "rgb.jpg");
  CHECK(j.c == 3);
  CHECK(j.h == 9);
  // Channel conversion: gray -> 3 replicates, RGBA -> 3 drops alpha, RGB -> 1 is PIL's luma.
  Image g3 = load_image(t / "gray.png", 3);
  CHECK(g3.c == 3);
  CHECK(g3.at(4, 5, 0) == gray.at(4, 5, 0));
  CHECK(g3.at(4, 5, 2) == gray.at(4, 5, 0));
  Image a3 = load_image(t / "rgba.png", 3);
  CHECK(a3.at(2, 3, 1) == rgba.at(2, 3, 1));
  Image l = convert_channels(rgb, 1);
  const int r = rgb.at(3, 4, 0), g = rgb.at(3, 4, 1), b = rgb.at(3, 4, 2);
  CHECK(std::abs(int(l.at(3, 4, 0)) - int(std::lround(r * 0.299 + g * 0.587 + b * 0.114))) <= 1);

  write_bytes(t / "notes.png", {'h', 'e', 'l', 'l', 'o'});
  CHECK_ERROR_HAS(load_image(t / "notes.png"), t / "notes.png", "not a readable image");
  auto png = read_file(t / "rgb.png");
  png.resize(png.size() - 30);
  write_bytes(t / "cut.png", png);
  CHECK_ERROR_HAS(load_image(t / "cut.png"), t / "cut.png");
  write_bytes(t / "empty.jpg", {});
  CHECK_ERROR_HAS(load_image(t / "empty.jpg"), t / "empty.jpg", "empty");
  CHECK_ERROR_HAS(load_image(t / "missing.png"), t / "missing.png", "cannot open");
}

TEST_CASE("ImageFolder: sorted classes, extensions, nested files, bad folders and files") {
  TempDir t;
  const std::string root = t / "root";
  std::filesystem::create_directories(root + "/zebra");
  std::filesystem::create_directories(root + "/apple/sub");
  std::filesystem::create_directories(root + "/mango");
  write_png(root + "/zebra/b.png", pattern(8, 8, 3, 1));
  write_bmp(root + "/zebra/a.BMP", pattern(6, 7, 3, 2));
  write_jpg(root + "/apple/x.jpg", pattern(10, 12, 3, 3));
  write_png(root + "/apple/sub/y.png", pattern(5, 5, 1, 4));
  write_bytes(root + "/apple/readme.txt", {'x'});
  write_png(root + "/mango/m.png", pattern(4, 4, 4, 5));
  ImageFolder f(root);
  REQUIRE(f.size() == 5);
  CHECK(f.classes() == std::vector<std::string>{"apple", "mango", "zebra"});
  CHECK(f.label(0) == 0);
  CHECK(f.label(2) == 1);
  CHECK(f.label(4) == 2);
  CHECK(f.path(3).find("a.BMP") != std::string::npos);  // extensions match case-insensitively
  CHECK(f.image(1).c == 1);                             // apple/sub/y.png, nested
  CHECK(f.image(0).w == 12);

  SUBCASE("empty class folder") {
    std::filesystem::create_directories(root + "/empty");
    CHECK_ERROR_HAS(ImageFolder(root), "empty", "empty class folder");
  }
  SUBCASE("missing root / no class folders") {
    CHECK_ERROR_HAS(ImageFolder(t / "nope"), t / "nope", "no such directory");
    std::filesystem::create_directories(t / "flat");
    CHECK_ERROR_HAS(ImageFolder(t / "flat"), "no class folders");
  }
  SUBCASE("corrupt image: error at read naming the file, or skipped with a count") {
    write_bytes(root + "/mango/broken.png", {0x89, 'P', 'N', 'G', 1, 2, 3});
    auto png = read_file(root + "/zebra/b.png");
    png.resize(png.size() / 2);
    write_bytes(root + "/zebra/c.png", png);
    ImageFolder strict(root);
    REQUIRE(strict.size() == 7);
    CHECK_ERROR_HAS(strict.image(2), "broken.png");
    CHECK_ERROR_HAS(strict.image(6), "c.png");
    ImageFolderOptions o;
    o.skip_unreadable = true;
    o.verbose = false;
    ImageFolder lenient(root, o);
    CHECK(lenient.size() == 5);
    CHECK(lenient.skipped() == 2);
    CHECK(lenient.describe().find("2 unreadable skipped") != std::string::npos);
  }
}

TEST_CASE("subsets: by classes, by label fraction (seeded), train/val split, concat") {
  // 3 classes x 40 samples (labels i % 3), 2x2 images.
  std::vector<uint8_t> px(120 * 4);
  std::vector<int64_t> labels(120);
  for (int i = 0; i < 120; ++i) {
    labels[size_t(i)] = i % 3;
    px[size_t(i) * 4] = uint8_t(i);
  }
  auto ds = std::make_shared<MemoryDataset>("mem", 2, 2, 1, px, labels, std::vector<std::string>{"a", "b", "c"});

  auto two = subset_by_classes(ds, {2, 0});
  CHECK(two->size() == 80);
  CHECK(two->classes() == std::vector<std::string>{"c", "a"});
  for (int64_t i = 0; i < two->size(); ++i) {
    const int64_t orig = ds->label(two->indices()[size_t(i)]);
    CHECK(two->label(i) == (orig == 2 ? 0 : 1));
  }
  CHECK(subset_by_class_names(ds, {"b"})->size() == 40);
  CHECK_ERROR_HAS(subset_by_classes(ds, {5}), "class 5");
  CHECK_ERROR_HAS(subset_by_class_names(ds, {"zzz"}), "zzz");

  auto tenth = subset_by_fraction(ds, 0.1, 7);
  CHECK(tenth->size() == 12);
  std::map<int64_t, int> per;
  for (int64_t i = 0; i < tenth->size(); ++i) per[tenth->label(i)]++;
  CHECK(per == std::map<int64_t, int>{{0, 4}, {1, 4}, {2, 4}});
  CHECK(subset_by_fraction(ds, 0.1, 7)->indices() == tenth->indices());
  CHECK(subset_by_fraction(ds, 0.1, 8)->indices() != tenth->indices());
  CHECK(subset_by_fraction(ds, 0.01, 7)->size() == 3);  // at least one per class

  auto [tr, va] = train_val_split(ds, 0.25, 3);
  CHECK(tr->size() == 90);
  CHECK(va->size() == 30);
  std::set<int64_t> all(tr->indices().begin(), tr->indices().end());
  for (int64_t i : va->indices()) CHECK(all.insert(i).second);  // disjoint
  CHECK(all.size() == 120);
  std::map<int64_t, int> vper;
  for (int64_t i = 0; i < va->size(); ++i) vper[va->label(i)]++;
  CHECK(vper == std::map<int64_t, int>{{0, 10}, {1, 10}, {2, 10}});
  auto [tr2, va2] = train_val_split(ds, 0.25, 3, false);
  CHECK(va2->size() == 30);
  CHECK_ERROR_HAS(train_val_split(ds, 1.5, 3), "val_fraction");

  ConcatDataset cat({two, tenth});
  CHECK(cat.size() == 92);
  CHECK(cat.image(85).px == tenth->image(5).px);
}

TEST_CASE("open_dataset: specs and their errors") {
  CHECK_ERROR_HAS(open_dataset("imagenet:/x"), "unknown data set", "imagenet");
  CHECK_ERROR_HAS(open_dataset("cifar10"), "give a folder");
  CHECK_ERROR_HAS(open_dataset("cifar10:/definitely/not/here"), "/definitely/not/here");
  TempDir t;
  std::filesystem::create_directories(t / "f/train/cat");
  std::filesystem::create_directories(t / "f/val/cat");
  write_png(t / "f/train/cat/1.png", pattern(4, 4, 3, 0));
  write_png(t / "f/train/cat/2.png", pattern(4, 4, 3, 0));
  write_png(t / "f/val/cat/1.png", pattern(4, 4, 3, 0));
  CHECK(open_dataset("folder:" + (t / "f"), "train")->size() == 2);
  CHECK(open_dataset("folder:" + (t / "f"), "val")->size() == 1);
  CHECK(norm_stats_for("cifar10:x", 3).mean[0] == doctest::Approx(0.4914));
  CHECK(norm_stats_for("fashion-mnist", 1).mean.size() == 1);
  CHECK(norm_stats_for("fashion-mnist", 3).mean.size() == 3);
}

TEST_CASE("Fashion-MNIST from Debian's dataset-fashion-mnist (real files)") {
  if (find_fashion_mnist().empty()) {
    MESSAGE("skipped: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist, or set MOCO_FASHION_MNIST)");
    return;
  }
  auto tr = fashion_mnist("train");
  auto te = fashion_mnist("test");
  REQUIRE(tr->size() == 60000);
  REQUIRE(te->size() == 10000);
  CHECK(tr->classes()[9] == "Ankle boot");
  std::vector<int> count(10);
  for (int64_t l : tr->labels()) count[size_t(l)]++;
  CHECK(count == std::vector<int>(10, 6000));
  CHECK(tr->label(0) == 9);
  CHECK(te->label(1) == 2);
  Image im = tr->image(0);
  CHECK(im.h == 28);
  CHECK(im.w == 28);
  CHECK(im.c == 1);
  int64_t sum = 0;
  for (uint8_t v : im.px) sum += v;
  CHECK(sum == 76247);  // numpy's sum over the first training image
  CHECK(int(im.at(14, 12, 0)) == 237);
  CHECK(open_dataset("fashion-mnist", "test")->size() == 10000);
}
