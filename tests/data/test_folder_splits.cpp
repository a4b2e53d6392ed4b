// Which images an ImageFolder's train and val splits hold (issue 15, item 4):
// train/ with val/ (or test/), train/ alone and a bare class folder get a
// seeded, stratified hold-out that never overlaps training; ambiguous layouts
// are errors. Before, train/ alone validated on the root (one class named
// "train": 100%) and a bare folder validated on its own training images.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/io.h"
#include "fixture.h"

using namespace moco;
using namespace moco::data;
using moco::testing::TempDir;

namespace {

// `n` tiny PNGs in each of `classes` under dir/<class>/.
void make_classes(const std::string& dir, const std::vector<std::string>& classes, int n) {
  for (const std::string& c : classes) {
    std::filesystem::create_directories(dir + "/" + c);
    for (int i = 0; i < n; ++i) {
      Image img(4, 4, 3);
      std::fill(img.px.begin(), img.px.end(), uint8_t(i * 10));
      write_png(dir + "/" + c + "/" + std::to_string(i) + ".png", img);
    }
  }
}

// The files behind a split, through its Subset (or the ImageFolder itself).
std::vector<std::string> files_of(const DatasetPtr& ds) {
  std::vector<std::string> out;
  if (auto* f = dynamic_cast<const ImageFolder*>(ds.get())) {
    for (int64_t i = 0; i < f->size(); ++i) out.push_back(f->path(i));
  } else {
    auto* s = dynamic_cast<const Subset*>(ds.get());
    REQUIRE(s != nullptr);
    auto* f2 = dynamic_cast<const ImageFolder*>(s->base().get());
    REQUIRE(f2 != nullptr);
    for (int64_t i : s->indices()) out.push_back(f2->path(i));
  }
  return out;
}

std::vector<int64_t> per_class(const Dataset& ds) {
  std::vector<int64_t> n(size_t(ds.num_classes()), 0);
  for (int64_t l : ds.labels()) ++n[size_t(l)];
  return n;
}

// Train and val hold disjoint files that together are every file.
void check_partition(const DatasetPtr& train, const DatasetPtr& val, size_t total) {
  std::vector<std::string> a = files_of(train), b = files_of(val);
  std::set<std::string> all(a.begin(), a.end());
  for (auto& f : b) CHECK_MESSAGE(all.insert(f).second, f << " is in both splits");
  CHECK(all.size() == total);
}

}  // namespace

TEST_CASE("folder: train/ without val/ holds out part of each class of train/, never the root") {
  TempDir t;
  const std::string dir = t / "d";
  make_classes(dir + "/train", {"cat", "dog"}, 10);
  DatasetPtr train = open_dataset("folder:" + dir, "train"), val = open_dataset("folder:" + dir, "val");
  // The old rule validated on folder:d itself, whose one class was "train".
  CHECK(val->classes() == std::vector<std::string>{"cat", "dog"});
  CHECK(train->size() == 18);
  CHECK(val->size() == 2);
  CHECK(per_class(*val) == std::vector<int64_t>{1, 1});
  check_partition(train, val, 20);
  for (auto& f : files_of(val)) CHECK(f.find(dir + "/train/") == 0);
  CHECK(val->describe().find("10% of each class held out for validation (seed 0)") != std::string::npos);
  CHECK(val->describe().find(dir + "/train") != std::string::npos);
  CHECK(train->describe().find("all but the 10%") != std::string::npos);
  CHECK(open_dataset("folder:" + dir, "test")->size() == 2);  // test = val without a test/ folder
  // The same images on every opening (seeded), other ones with another seed or fraction.
  CHECK(files_of(open_dataset("folder:" + dir, "val")) == files_of(val));
  OpenOptions o;
  o.val_fraction = 0.3;
  DatasetPtr v3 = open_dataset("folder:" + dir, "val", o);
  CHECK(per_class(*v3) == std::vector<int64_t>{3, 3});
  check_partition(open_dataset("folder:" + dir, "train", o), v3, 20);
  o.val_fraction = 0.1;
  std::set<std::vector<std::string>> picks;
  for (uint64_t seed = 0; seed < 6; ++seed) {
    o.split_seed = seed;
    picks.insert(files_of(open_dataset("folder:" + dir, "val", o)));
  }
  CHECK(picks.size() > 1);
}

TEST_CASE("folder: a bare class folder no longer validates on its own training images") {
  TempDir t;
  const std::string dir = t / "flat";
  make_classes(dir, {"a", "b", "c"}, 5);
  DatasetPtr train = open_dataset("folder:" + dir, "train"), val = open_dataset("folder:" + dir, "val");
  CHECK(train->classes() == std::vector<std::string>{"a", "b", "c"});
  CHECK(val->classes() == train->classes());
  // round(0.5) = 1 image of each class of five; before, val was all 15 training images.
  CHECK(per_class(*val) == std::vector<int64_t>{1, 1, 1});
  CHECK(per_class(*train) == std::vector<int64_t>{4, 4, 4});
  check_partition(train, val, 15);
  // Both at once read the folder once and give the same splits.
  auto [tr2, va2] = open_train_val("folder:" + dir);
  CHECK(files_of(tr2) == files_of(train));
  CHECK(files_of(va2) == files_of(val));

  SUBCASE("--val-fraction 0: train on everything, and asking for val says how to get one") {
    OpenOptions o;
    o.val_fraction = 0;
    CHECK(open_dataset("folder:" + dir, "train", o)->size() == 15);
    CHECK_ERROR_HAS(open_dataset("folder:" + dir, "val", o), dir, "no val/ or test/ folder", "--val-fraction",
                    dir + "/val/<class>/");
  }
  SUBCASE("a class of one image trains on it and is not validated; too few images overall is an error") {
    make_classes(t / "one", {"x"}, 1);
    CHECK(open_dataset("folder:" + (t / "one"), "train")->size() == 1);
    CHECK_ERROR_HAS(open_dataset("folder:" + (t / "one"), "val"), t / "one", "1 images are too few",
                    "a class needs two");
  }
}

TEST_CASE("folder: val/ or test/ beside train/ are used as they are; ambiguous layouts are errors") {
  TempDir t;
  make_classes(t / "tv/train", {"a", "b"}, 3);
  make_classes(t / "tv/val", {"a", "b"}, 2);
  CHECK(open_dataset("folder:" + (t / "tv"), "train")->size() == 6);
  CHECK(open_dataset("folder:" + (t / "tv"), "val")->size() == 4);
  make_classes(t / "tt/train", {"a", "b"}, 3);
  make_classes(t / "tt/test", {"a", "b"}, 1);
  CHECK(open_dataset("folder:" + (t / "tt"), "train")->size() == 6);
  CHECK(open_dataset("folder:" + (t / "tt"), "val")->size() == 2);
  std::filesystem::create_directories(t / "tv/.ipynb_checkpoints");  // hidden folders are nobody's classes
  CHECK(open_dataset("folder:" + (t / "tv"), "val")->size() == 4);

  make_classes(t / "mixed/train", {"a"}, 2);
  make_classes(t / "mixed", {"zebra", "cat"}, 2);
  CHECK_ERROR_HAS(open_dataset("folder:" + (t / "mixed"), "train"), t / "mixed", "ambiguous layout",
                  "train/ beside the folders cat, zebra");
  make_classes(t / "noval/val", {"a"}, 2);
  make_classes(t / "noval", {"b"}, 2);
  CHECK_ERROR_HAS(open_dataset("folder:" + (t / "noval"), "val"), "ambiguous layout", "a val/ folder but no train/");
  CHECK_ERROR_HAS(open_dataset("folder:" + (t / "tv"), "unlabeled"), "splits train, val and test", "unlabeled");
  CHECK_ERROR_HAS(open_dataset("folder:" + (t / "none"), "train"), t / "none", "no such directory");
}
