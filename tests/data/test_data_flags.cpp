// The data flags of the training commands as open_data (tools/cli_common)
// applies them: --val-fraction, --max-image-pixels, --skip-bad-images, and the
// input size and channels taken from a sample of the images (issue 15, items
// 4, 9, 12 and 14), where the first image alone decided before.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "data/io.h"
#include "fixture.h"
#include "tools/cli_common.h"

using namespace moco;
using moco::testing::TempDir;

namespace {

void make_folder(const std::string& dir, int side, int per_class) {
  for (const char* c : {"a", "b"}) {
    std::filesystem::create_directories(dir + "/" + c);
    for (int i = 0; i < per_class; ++i)
      data::write_png(dir + "/" + c + "/" + std::to_string(i) + ".png", data::Image(side, side, 3));
  }
}

cli::DataSetup open_with(const std::vector<std::string>& argv) {
  cli::Args a("test", "open_data's flags");
  cli::add_data_flags(a, true);
  REQUIRE(a.parse(argv));
  return cli::open_data(a, 1.0, 0);
}

}  // namespace

TEST_CASE("open_data: --val-fraction sets the hold-out of a folder without val/, and the set-up keeps it") {
  TempDir t;
  make_folder(t / "f", 8, 10);
  cli::DataSetup d = open_with({"--dataset", "folder", "--data", t / "f"});
  CHECK(d.open.val_fraction == doctest::Approx(0.1));
  CHECK(d.train->size() == 18);
  CHECK(d.val->size() == 2);
  d = open_with({"--dataset", "folder", "--data", t / "f", "--val-fraction", "0.5"});
  CHECK(d.train->size() == 10);
  CHECK(d.val->size() == 10);
  CHECK(d.val->describe().find("50% of each class held out for validation") != std::string::npos);
  // The split reopens the same way from the set-up (as pretrain's kNN bank does).
  CHECK(data::open_dataset(d.spec, "train", d.open)->size() == 10);
  CHECK_ERROR_HAS(open_with({"--dataset", "folder", "--data", t / "f", "--val-fraction", "0.95"}), "--val-fraction",
                  "out of range");
}

TEST_CASE("open_data: --max-image-pixels is the decoders' limit") {
  TempDir t;
  make_folder(t / "f", 10, 2);
  struct Restore {
    ~Restore() { data::set_max_image_pixels(data::kDefaultMaxImagePixels); }
  } restore;
  CHECK_ERROR_HAS(open_with({"--dataset", "folder", "--data", t / "f", "--max-image-pixels", "99"}),
                  "10x10 = 100 pixels", "over the limit of 99", "--max-image-pixels");
  CHECK(open_with({"--dataset", "folder", "--data", t / "f", "--max-image-pixels", "100"}).size == 10);
  CHECK(open_with({"--dataset", "folder", "--data", t / "f", "--max-image-pixels", "0"}).size == 10);
  CHECK(open_with({"--dataset", "folder", "--data", t / "f"}).size == 10);
  CHECK(data::max_image_pixels() == data::kDefaultMaxImagePixels);
}

TEST_CASE("open_data: input size and channels come from a sample of the images, not the first one") {
  TempDir t;
  const std::string f = t / "f";
  make_folder(f, 16, 4);
  SUBCASE("a gray first file does not make a colour folder 1-channel") {
    data::write_png(f + "/a/0.png", data::Image(16, 16, 1));  // the first file of the first class
    cli::DataSetup d = open_with({"--dataset", "folder", "--data", f});
    CHECK(d.channels == 3);
    CHECK(d.size == 16);
    CHECK(open_with({"--dataset", "folder", "--data", f, "--channels", "1"}).channels == 1);
  }
  SUBCASE("a 1x1 first file neither fails the run nor sets the size") {
    data::write_png(f + "/a/0.png", data::Image(1, 1, 3));
    CHECK(open_with({"--dataset", "folder", "--data", f}).size == 16);
  }
  SUBCASE("a gray folder stays gray; gray+alpha counts as gray") {
    for (const char* c : {"a", "b"})
      for (int i = 0; i < 4; ++i)
        data::write_png(f + "/" + c + "/" + std::to_string(i) + ".png", data::Image(16, 16, i % 2 ? 2 : 1));
    CHECK(open_with({"--dataset", "folder", "--data", f}).channels == 1);
  }
  SUBCASE("images too small for a model input: blamed on the images, not on --image-size") {
    make_folder(t / "tiny", 1, 2);
    const std::string msg =
        testing::error_of([&] { (void)open_with({"--dataset", "folder", "--data", t / "tiny"}); });
    INFO(msg);
    CHECK(msg.find("are 1 px on their short side (the median of 2 sampled, 1 to 1 px), too small") !=
          std::string::npos);
    CHECK(msg.find("give --image-size N") != std::string::npos);
    CHECK(msg.find("--image-size 1 ") == std::string::npos);
    CHECK(open_with({"--dataset", "folder", "--data", t / "tiny", "--image-size", "8"}).size == 8);
    CHECK_ERROR_HAS(open_with({"--dataset", "folder", "--data", t / "tiny", "--image-size", "4"}), "--image-size 4",
                    "too small");
  }
}

TEST_CASE("open_data: --skip-bad-images leaves unreadable files out and lists them; without it the error says so") {
  TempDir t;
  const std::string f = t / "f";
  make_folder(f, 8, 4);
  testing::write_bytes(f + "/b/bad.png", {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0});
  data::ImageFolder strict(f);
  REQUIRE(strict.size() == 9);
  int64_t bad = -1;
  for (int64_t i = 0; i < strict.size(); ++i)
    if (strict.path(i).find("bad.png") != std::string::npos) bad = i;
  CHECK_ERROR_HAS(strict.image(bad), "bad.png", "truncated PNG", "--skip-bad-images");

  cli::DataSetup d = open_with({"--dataset", "folder", "--data", f, "--val-fraction", "0.25", "--skip-bad-images"});
  CHECK(d.train->size() + d.val->size() == 8);
  CHECK(d.skipped_images == std::vector<std::string>{f + "/b/bad.png"});
  CHECK(d.train->describe().find("1 unreadable skipped") != std::string::npos);
  // Without the flag nothing is left out (and with no size to sample for, nothing is decoded yet).
  CHECK(open_with({"--dataset", "folder", "--data", f, "--val-fraction", "0.25", "--image-size", "8", "--channels",
                   "3"})
            .skipped_images.empty());
}
