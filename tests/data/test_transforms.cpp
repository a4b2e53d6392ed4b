// Random transforms and presets: torchvision's sampling rules, the effect of
// each transform at its extremes, per-seed determinism, preset shapes for
// every supported size.
#include <doctest/doctest.h>

#include <cmath>

#include "data/transforms.h"
#include "tensor/random.h"

using namespace moco;
using namespace moco::data;

namespace {

FImage ramp(int c, int h, int w) {
  FImage f(c, h, w);
  for (int ch = 0; ch < c; ++ch)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) f.at(ch, y, x) = float((ch * 37 + y * 11 + x * 3) % 256) / 255.0f;
  return f;
}

Image ramp_u8(int h, int w, int c) {
  Image im(h, w, c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < c; ++ch) im.at(y, x, ch) = uint8_t((ch * 60 + y * 5 + x * 9) & 255);
  return im;
}

}  // namespace

TEST_CASE("RandomResizedCrop's box follows torchvision's rule") {
  Generator gen(42);
  int n_full = 0;
  for (int t = 0; t < 2000; ++t) {
    fn::CropBox b = fn::random_resized_crop_box(60, 80, 0.2, 1.0, 3.0 / 4, 4.0 / 3, gen);
    REQUIRE(b.top >= 0);
    REQUIRE(b.left >= 0);
    REQUIRE(b.top + b.height <= 60);
    REQUIRE(b.left + b.width <= 80);
    const double area = double(b.height) * b.width / (60.0 * 80.0);
    const double ratio = double(b.width) / b.height;
    if (b.height == 60 && b.width == 80) {
      ++n_full;  // the fallback (or a lucky draw)
      continue;
    }
    // Rounding w and h to integers moves area and ratio a little.
    CHECK(area >= 0.2 * 0.93);
    CHECK(area <= 1.0);
    CHECK(ratio >= 0.75 * 0.93);
    CHECK(ratio <= 4.0 / 3 * 1.08);
  }
  CHECK(n_full < 200);
  // A 4x100 strip: no draw fits, so the fallback crops the centre with the
  // ratio clamped to 4/3: h = 4, w = round(4 * 4/3) = 5, left = (100 - 5) // 2.
  fn::CropBox f = fn::random_resized_crop_box(4, 100, 0.9, 1.0, 3.0 / 4, 4.0 / 3, gen);
  CHECK(f.top == 0);
  CHECK(f.height == 4);
  CHECK(f.width == 5);
  CHECK(f.left == 47);
  // A tall strip clamps to 3/4: w = 4, h = round(4 / 0.75) = 5.
  fn::CropBox g = fn::random_resized_crop_box(100, 4, 0.9, 1.0, 3.0 / 4, 4.0 / 3, gen);
  CHECK(g.width == 4);
  CHECK(g.height == 5);
  CHECK(g.top == 47);
}

TEST_CASE("transforms at their extremes") {
  Generator gen(1);
  FImage base = ramp(3, 10, 12);
  SUBCASE("RandomApply p=0 never applies, p=1 always") {
    FImage a = base;
    RandomApply(std::make_shared<Solarize>(0.0), 0.0).apply(a, gen);
    CHECK(a.px == base.px);
    RandomApply(std::make_shared<Solarize>(0.0), 1.0).apply(a, gen);
    for (size_t i = 0; i < a.px.size(); ++i) CHECK(a.px[i] == doctest::Approx(1.0f - base.px[i]));
  }
  SUBCASE("flip p=1 mirrors; grayscale p=1 equalises channels") {
    FImage a = base;
    RandomHorizontalFlip(1.0).apply(a, gen);
    CHECK(a.at(1, 3, 0) == base.at(1, 3, 11));
    RandomGrayscale(1.0).apply(a, gen);
    CHECK(a.at(0, 4, 5) == a.at(2, 4, 5));
    CHECK(a.c == 3);
  }
  SUBCASE("ColorJitter(0, 0, 0, 0) is the identity; blur keeps a flat image flat") {
    FImage a = base;
    ColorJitter(0, 0, 0, 0).apply(a, gen);
    CHECK(a.px == base.px);
    FImage flat(3, 9, 9);
    std::fill(flat.px.begin(), flat.px.end(), 0.25f);
    GaussianBlur(5, 0.1, 2.0).apply(flat, gen);
    for (float v : flat.px) CHECK(v == doctest::Approx(0.25f).epsilon(1e-5));
  }
  SUBCASE("ColorJitter keeps values in [0, 1] and changes the image") {
    FImage a = base;
    ColorJitter(0.4, 0.4, 0.4, 0.1).apply(a, gen);
    CHECK(a.px != base.px);
    for (float v : a.px) {
      CHECK(v >= 0.0f);
      CHECK(v <= 1.0f);
    }
  }
  SUBCASE("flip probability is p") {
    int flips = 0;
    for (int i = 0; i < 2000; ++i) {
      FImage a = base;
      RandomHorizontalFlip(0.5).apply(a, gen);
      flips += a.at(0, 0, 0) != base.at(0, 0, 0);
    }
    CHECK(flips > 900);
    CHECK(flips < 1100);
  }
  SUBCASE("Resize and CenterCrop as torchvision's eval transform") {
    FImage big = ramp(3, 300, 400);
    FImage r = fn::resize_short(big, 256);
    CHECK(r.h == 256);
    CHECK(r.w == 341);
    FImage c = fn::center_crop(r, 224, 224);
    CHECK(c.h == 224);
    CHECK(c.at(0, 0, 0) == r.at(0, 16, 58));  // top = round(32 / 2), left = round(117 / 2) (half to even)
  }
  SUBCASE("bad arguments are errors") {
    CHECK_THROWS_AS(GaussianBlur(4, 0.1, 2.0), Error);
    CHECK_THROWS_AS(RandomResizedCrop(32, 0.5, 0.2), Error);
    CHECK_THROWS_AS(ColorJitter(0.4, 0.4, 0.4, 0.7), Error);
    CHECK_THROWS_AS(Normalize({0.5f}, {0.0f}), Error);
    FImage a = base;
    CHECK_THROWS_AS(fn::normalize(a, {0.5f}, {0.5f}), Error);
    CHECK_THROWS_AS(make_preset("v9", PresetOptions{}), Error);
  }
}

TEST_CASE("presets: shapes at 28, 32, 64, 96 and 224 px, one and three channels") {
  for (int size : {28, 32, 64, 96, 224}) {
    for (int ch : {1, 3}) {
      PresetOptions o;
      o.size = size;
      o.channels = ch;
      for (const char* name : {"v1", "v2", "v3", "cifar-demo", "lincls", "eval"}) {
        CAPTURE(size);
        CAPTURE(ch);
        CAPTURE(name);
        Pipeline p = make_preset(name, o);
        const size_t nviews = std::string(name).rfind('v', 0) == 0 || std::string(name) == "cifar-demo" ? 2 : 1;
        REQUIRE(p.views.size() == nviews);
        Generator gen(7);
        // A source bigger than the output, and one smaller (gray).
        for (const Image& src : {ramp_u8(size + 13, size * 3 / 2, 3), ramp_u8(20, 17, 1)}) {
          std::vector<FImage> v = p(src, gen);
          REQUIRE(v.size() == nviews);
          for (auto& f : v) {
            CHECK(f.c == ch);
            CHECK(f.h == size);
            CHECK(f.w == size);
          }
        }
      }
    }
  }
}

TEST_CASE("presets: MoCo recipes as in the reference code") {
  PresetOptions o;
  Pipeline v2 = moco_v2(o);
  CHECK(v2.views[0].get() == v2.views[1].get());  // the same recipe, drawn twice
  const std::string s2 = v2.views[0]->str();
  CHECK(s2.find("RandomResizedCrop(224, scale=(0.2, 1)") != std::string::npos);
  CHECK(s2.find("RandomApply(ColorJitter(0.4, 0.4, 0.4, 0.1), p=0.8)") != std::string::npos);
  CHECK(s2.find("RandomGrayscale(p=0.2)") != std::string::npos);
  CHECK(s2.find("RandomApply(GaussianBlur(k=23, sigma=[0.1, 2]), p=0.5)") != std::string::npos);
  Pipeline v3 = moco_v3(o);
  const std::string a = v3.views[0]->str(), b = v3.views[1]->str();
  CHECK(a.find("scale=(0.08, 1)") != std::string::npos);
  CHECK(a.find("ColorJitter(0.4, 0.4, 0.2, 0.1)") != std::string::npos);
  CHECK(a.find("sigma=[0.1, 2]), p=1)") != std::string::npos);
  CHECK(a.find("Solarize") == std::string::npos);
  CHECK(b.find("sigma=[0.1, 2]), p=0.1)") != std::string::npos);
  CHECK(b.find("RandomApply(Solarize(0.5), p=0.2)") != std::string::npos);
  CHECK(moco_v1(o).views[0]->str().find("ColorJitter(0.4, 0.4, 0.4, 0.4)") != std::string::npos);
  PresetOptions small;
  small.size = 32;
  CHECK(moco_v2(small).views[0]->str().find("GaussianBlur(k=3") != std::string::npos);
  // The CIFAR-10 demo's train_transform, in its order, without blur.
  Pipeline demo = moco_cifar_demo(small);
  CHECK(demo.views.size() == 2);
  const std::string d = demo.views[0]->str();
  const size_t crop = d.find("RandomResizedCrop(32, scale=(0.08, 1)"), flip = d.find("RandomHorizontalFlip(p=0.5)"),
               jitter = d.find("RandomApply(ColorJitter(0.4, 0.4, 0.4, 0.1), p=0.8)"),
               gray = d.find("RandomGrayscale(p=0.2)");
  REQUIRE(crop != std::string::npos);
  REQUIRE(flip != std::string::npos);
  REQUIRE(jitter != std::string::npos);
  REQUIRE(gray != std::string::npos);
  CHECK(crop < flip);
  CHECK(flip < jitter);
  CHECK(jitter < gray);
  CHECK(d.find("Blur") == std::string::npos);
}

TEST_CASE("a sample's views depend only on the generator's seed") {
  PresetOptions o;
  o.size = 32;
  Pipeline p = moco_v2(o);
  Image src = ramp_u8(40, 50, 3);
  Generator g1(123), g2(123), g3(124);
  auto a = p(src, g1), b = p(src, g2), c = p(src, g3);
  CHECK(a[0].px == b[0].px);
  CHECK(a[1].px == b[1].px);
  CHECK(a[0].px != a[1].px);  // two different draws
  CHECK(a[0].px != c[0].px);
}
