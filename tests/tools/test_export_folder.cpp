// `moco export-folder` (tools/export_folder.h) on a tiny generated IDX data set
// (4 classes of 16x16 bar patterns on a near-black background): the folder's
// layout and counts, 3- and 4-channel PNGs, reading it back as an ImageFolder,
// seeds, the pixels of a plain export, usage errors, and the image helpers.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "data/dataset.h"
#include "data/io.h"
#include "data/transforms.h"
#include "tensor/random.h"
#include "test_util.h"
#include "tiny_data.h"
#include "tools/args.h"
#include "tools/export_folder.h"

using namespace moco;
using namespace moco::cli;
namespace fs = std::filesystem;
using namespace moco::test_data;

namespace {

// export-folder reads no --workers: the data flags alone.
struct ExportData : TinyData {
  using TinyData::TinyData;
  std::vector<std::string> args(std::vector<std::string> extra) const {
    return plus({"--dataset", "mnist", "--data", root + "/data"}, extra);
  }
};

const ExportData& tiny() {
  static ExportData d("export", true);
  return d;
}

// Every file under `dir` (path relative to it -> bytes).
std::map<std::string, std::vector<uint8_t>> files(const std::string& dir) {
  std::map<std::string, std::vector<uint8_t>> out;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = data::read_file(e.path().string());
  return out;
}

std::set<std::string> names_in(const std::string& dir) {
  std::set<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

// The UsageError's message, or a text saying what happened instead.
std::string usage_error(const std::vector<std::string>& argv) {
  try {
    export_folder_command(argv);
  } catch (const UsageError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not a usage error: ") + e.what();
  }
  return "no error";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("export-folder: layout, counts, 3- and 4-channel PNGs, and the folder reads back through open_dataset") {
  const auto& d = tiny();
  const std::string out = d.out("a");
  REQUIRE(export_folder_command(d.args({"--classes", "0,1,3", "--train-per-class", "5", "--val-per-class", "10",
                                        "--size", "12", "--colour", "--rgba", "0.5", "--out", out})) == 0);
  CHECK(names_in(out) == std::set<std::string>{"train", "val"});
  const std::set<std::string> classes = {"0", "1", "3"};
  // train: 5 of each class's 16; val: all 8 (fewer than the 10 asked for).
  for (const auto& [split, per_class] : std::vector<std::pair<std::string, size_t>>{{"train", 5}, {"val", 8}}) {
    INFO("split " << split);
    REQUIRE(names_in(out + "/" + split) == classes);
    const data::DatasetPtr source = data::open_dataset(d.spec(), split);
    size_t rgb = 0, rgba = 0;
    for (const std::string& c : classes) {
      const std::set<std::string> pngs = names_in(out + "/" + split + "/" + c);
      CHECK(pngs.size() == per_class);
      for (const std::string& f : pngs) {
        INFO("file " << split << "/" << c << "/" << f);
        // <index>.png, zero-padded to the split's width, naming an image of this class.
        REQUIRE(f.size() == 6);
        CHECK(source->label(std::stoll(f.substr(0, 2))) == std::stoll(c));
        const data::Image img = data::load_image(out + "/" + split + "/" + c + "/" + f);
        CHECK(img.h == 12);
        CHECK(img.w == 12);
        rgb += img.c == 3;
        rgba += img.c == 4;
        bool coloured = false;
        int min_alpha = 255, max_alpha = 0;
        for (int y = 0; y < img.h; ++y)
          for (int x = 0; x < img.w; ++x) {
            coloured = coloured || img.at(y, x, 0) != img.at(y, x, 1) || img.at(y, x, 1) != img.at(y, x, 2);
            if (img.c == 4) min_alpha = std::min<int>(min_alpha, img.at(y, x, 3)), max_alpha = std::max<int>(max_alpha, img.at(y, x, 3));
          }
        CHECK(coloured);
        if (img.c == 4) {  // an opaque bar on a see-through background
          CHECK(max_alpha == 255);
          CHECK(min_alpha < 128);
        }
      }
    }
    // Exactly round(0.5 * n) with alpha: 8 of 15 train images, 12 of 24 val images.
    const size_t n = 3 * per_class;
    CHECK(rgba == size_t(std::llround(0.5 * double(n))));
    CHECK(rgb == n - rgba);
  }

  const data::DatasetPtr train = data::open_dataset("folder:" + out, "train");
  const data::DatasetPtr val = data::open_dataset("folder:" + out, "val");
  CHECK(train->classes() == std::vector<std::string>{"0", "1", "3"});
  CHECK(val->classes() == train->classes());
  REQUIRE(train->size() == 15);
  REQUIRE(val->size() == 24);
  const std::vector<int64_t> train_labels = train->labels(), val_labels = val->labels();
  for (int64_t l = 0; l < 3; ++l) {
    CHECK(std::count(train_labels.begin(), train_labels.end(), l) == 5);
    CHECK(std::count(val_labels.begin(), val_labels.end(), l) == 8);
  }
  // What the loader does with an RGBA file: a 3-channel input without the alpha.
  int64_t checked = 0;
  for (int64_t i = 0; i < train->size(); ++i) {
    const data::Image img = train->image(i);
    if (img.c != 4) continue;
    const data::FImage f = data::to_float(img, 3);
    REQUIRE(f.c == 3);
    bool same = true;  // alpha is dropped, not premultiplied or composited
    for (int ch = 0; ch < 3; ++ch)
      for (int y = 0; y < img.h; ++y)
        for (int x = 0; x < img.w; ++x) same = same && std::lround(f.at(ch, y, x) * 255.0f) == img.at(y, x, ch);
    CHECK(same);
    ++checked;
  }
  CHECK(checked == 8);
}

TEST_CASE("export-folder: the same seed writes identical files, another seed another subset; a plain export keeps the pixels") {
  const auto& d = tiny();
  const std::vector<std::string> flags = {"--classes", "0,2", "--train-per-class", "4", "--val-per-class", "3",
                                          "--size", "12", "--colour", "--rgba", "0.5"};
  auto run = [&](const std::string& name, const std::string& seed) {
    std::vector<std::string> a = flags;
    a.insert(a.end(), {"--seed", seed, "--out", d.out(name)});
    REQUIRE(export_folder_command(d.args(a)) == 0);
    return files(d.out(name));
  };
  const auto a = run("seed7a", "7"), b = run("seed7b", "7"), c = run("seed8", "8");
  REQUIRE(a.size() == 2 * (4 + 3));
  CHECK(a == b);  // names and bytes
  std::set<std::string> names_a, names_c;
  for (auto& kv : a) names_a.insert(kv.first);
  for (auto& kv : c) names_c.insert(kv.first);
  CHECK(names_c.size() == names_a.size());
  CHECK(names_c != names_a);

  // No tint, no resize, no alpha, every image of the class: the PNG holds the source's pixels.
  const std::string plain = d.out("plain");
  REQUIRE(export_folder_command(d.args({"--classes", "2", "--out", plain})) == 0);
  const data::DatasetPtr source = data::open_dataset(d.spec(), "train");
  const std::set<std::string> pngs = names_in(plain + "/train/2");
  CHECK(pngs.size() == 16);
  for (const std::string& f : pngs) {
    INFO("file " << f);
    const data::Image img = data::load_image(plain + "/train/2/" + f), src = source->image(std::stoll(f.substr(0, 2)));
    CHECK(img.c == 1);
    CHECK(img.px == src.px);
  }
  CHECK(names_in(plain + "/val/2").size() == 8);
}

TEST_CASE("export-folder: usage errors name the flag and the value, and write nothing") {
  const auto& d = tiny();
  const std::string fresh = d.out("never");
  auto err = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), {"--out", fresh});
    return usage_error(d.args(extra));
  };
  std::string m = err({"--rgba", "1.5"});
  CHECK(contains(m, "--rgba = 1.5 is out of range"));
  CHECK(contains(err({"--rgba", "-0.25"}), "--rgba = -0.25"));
  m = err({"--classes", "0,12"});
  CHECK(contains(m, "--classes: class 12 is out of range"));
  m = err({"--classes", "0,Boot"});
  CHECK(contains(m, "--classes: no class 'Boot'"));
  CHECK(contains(err({"--classes", "1,1"}), "listed twice"));
  CHECK(contains(err({"--size", "2000"}), "--size = 2000 is out of range [0, 1024]"));
  CHECK(contains(err({"--size", "-1"}), "--size = -1"));
  CHECK(contains(err({"--train-per-class", "-1"}), "--train-per-class = -1"));
  CHECK(contains(err({"--val-per-class", "-3"}), "--val-per-class = -3"));
  CHECK(contains(usage_error(d.args({})), "--out"));
  CHECK_FALSE(fs::exists(fresh));

  // A non-empty --out is refused and left as it was; --overwrite replaces only train/ and val/.
  const std::string used = d.out("used");
  fs::create_directories(used + "/train/9");
  std::ofstream(used + "/keep.txt") << "mine";
  m = usage_error(d.args({"--classes", "0", "--out", used}));
  CHECK(contains(m, "--out " + used + ": the folder is not empty"));
  CHECK(names_in(used) == std::set<std::string>{"keep.txt", "train"});
  CHECK(names_in(used + "/train") == std::set<std::string>{"9"});
  REQUIRE(export_folder_command(d.args({"--classes", "0", "--train-per-class", "2", "--out", used, "--overwrite"})) == 0);
  CHECK(names_in(used) == std::set<std::string>{"keep.txt", "train", "val"});
  CHECK(names_in(used + "/train") == std::set<std::string>{"0"});
  CHECK(names_in(used + "/train/0").size() == 2);
}

TEST_CASE("export-folder helpers: safe class names, a tint that keeps the object brighter, alpha from the shape, resize of any channels") {
  CHECK(safe_file_name("T-shirt/top") == "T-shirt_top");
  CHECK(safe_file_name("Ankle boot") == "Ankle boot");
  CHECK(safe_file_name("a\\b:c*?") == "a_b_c__");
  CHECK(safe_file_name("..") == "_.");
  CHECK(safe_file_name("") == "_");
  CHECK(safe_file_name(std::string("x\ny")) == "x_y");

  data::Image ramp(1, 256, 1);
  for (int x = 0; x < 256; ++x) ramp.at(0, x, 0) = uint8_t(x);
  int coloured = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    INFO("seed " << seed);
    Generator gen(seed);
    const data::Image rgb = colourise(ramp, gen);
    REQUIRE(rgb.c == 3);
    const data::Image l = data::convert_channels(rgb, 1);  // luma, as the loader's grayscale
    bool monotone = true;
    for (int x = 1; x < 256; ++x) monotone = monotone && l.at(0, x, 0) + 1 >= l.at(0, x - 1, 0);
    CHECK(monotone);
    CHECK(l.at(0, 255, 0) - l.at(0, 0, 0) >= 62);  // 0.25 of the range, less rounding
    const int lo = std::min({rgb.at(0, 255, 0), rgb.at(0, 255, 1), rgb.at(0, 255, 2)});
    const int hi = std::max({rgb.at(0, 255, 0), rgb.at(0, 255, 1), rgb.at(0, 255, 2)});
    coloured += hi - lo >= 20;
  }
  CHECK(coloured >= 180);  // the foreground is a colour, white only as a rare fallback
  Generator g0(0), g1(1);
  CHECK(colourise(ramp, g0).px != colourise(ramp, g1).px);

  data::Image gray_alpha(1, 2, 2);
  gray_alpha.px = {0, 17, 255, 200};
  Generator g2(2);
  const data::Image rgba = colourise(gray_alpha, g2);
  REQUIRE(rgba.c == 4);
  CHECK(rgba.at(0, 0, 3) == 17);
  CHECK(rgba.at(0, 1, 3) == 200);

  data::Image img(1, 4, 3), mask(1, 4, 1);
  img.px = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  mask.px = {0, 16, 32, 255};
  const data::Image a = add_alpha(img, mask);
  REQUIRE(a.c == 4);
  CHECK(a.px == std::vector<uint8_t>{1, 2, 3, 64, 4, 5, 6, 160, 7, 8, 9, 255, 10, 11, 12, 255});
  CHECK_THROWS_CONTAINS(add_alpha(a, mask), "already has alpha");

  // data::fn::resize on 8 bits: the colours as the float resize gives them, alpha resampled like a colour.
  data::Image big(9, 7, 4);
  for (size_t i = 0; i < big.px.size(); ++i) big.px[i] = uint8_t((i * 37) % 256);
  const data::Image small = data::fn::resize(big, 4, 5);
  REQUIRE(small.c == 4);
  CHECK(small.h == 4);
  CHECK(small.w == 5);
  const data::Image want_rgb = data::to_u8(data::fn::resize(data::to_float(big, 3), 4, 5));
  data::Image alpha(9, 7, 1);
  for (size_t i = 0; i < alpha.px.size(); ++i) alpha.px[i] = big.px[i * 4 + 3];
  const data::Image want_alpha = data::to_u8(data::fn::resize(data::to_float(alpha, 1), 4, 5));
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 5; ++x) {
      for (int ch = 0; ch < 3; ++ch) CHECK(small.at(y, x, ch) == want_rgb.at(y, x, ch));
      CHECK(small.at(y, x, 3) == want_alpha.at(y, x, 0));
    }
}
