// Parity of data/transforms.cpp's functional ops with torchvision 0.14's
// (fixtures: tests/parity/gen_transforms.py).
//
// Tolerances. Against torchvision on float tensors both sides compute in
// float32 from the same formulas; they differ only in summation order
// (resampling and blur weights are normalised in double here, in float in
// PyTorch; the contrast mean is summed in double here), so 2e-6 absolute
// covers them; outputs lie in [0, 1] (about 2.2 after Normalize).
// Against PIL (the uint8 pipeline of the reference MoCo code), PIL rounds to
// uint8 after every op and resamples with fixed-point weights, so a result
// may differ by one gray level (1/255) and no more.
#include <doctest/doctest.h>

#include <cmath>

#include "data/transforms.h"
#include "fixture.h"
#include "tensor/compare.h"
#include "tensor/random.h"

using namespace moco;
using namespace moco::data;

namespace {

const std::map<std::string, testing::FixArray>& fixtures() {
  static const auto m = testing::read_fixture(std::string(MOCO_TEST_DATA_DIR) + "/transforms/transforms.bin");
  return m;
}

FImage to_fimage(const testing::FixArray& a) {
  REQUIRE(a.shape.size() == 3);
  FImage f(int(a.shape[0]), int(a.shape[1]), int(a.shape[2]));
  f.px = a.as<float>();
  return f;
}

FImage input(double id) { return to_fimage(fixtures().at("input/" + std::to_string(int(id)))); }

std::vector<double> params(const std::string& c) { return fixtures().at(c + "/params").as<double>(); }

void check_close(const FImage& got, const std::string& c, double atol = 2e-6) {
  const auto& ref = fixtures().at(c + "/out");
  REQUIRE(ref.shape.size() == 3);
  REQUIRE(ref.shape[0] == got.c);
  REQUIRE(ref.shape[1] == got.h);
  REQUIRE(ref.shape[2] == got.w);
  Tensor a = Tensor::from_vector(got.px, {got.c, got.h, got.w});
  Tensor b = Tensor::from_vector(ref.as<float>(), ref.shape);
  CloseReport r = allclose(a, b, atol, 0, c);
  INFO(r.message);
  CHECK(r.ok);
}

std::vector<std::string> cases(const std::string& op) {
  std::vector<std::string> out;
  for (auto& [name, a] : fixtures()) {
    const std::string suffix = "/params";
    if (name.rfind(op + "/", 0) == 0 && name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(name.substr(0, name.size() - suffix.size()));
  }
  REQUIRE_MESSAGE(!out.empty(), "no fixtures for " << op);
  return out;
}

}  // namespace

TEST_CASE("parity: resized_crop (antialiased bilinear and plain bilinear) matches torchvision") {
  for (auto& c : cases("resized_crop")) {
    CAPTURE(c);
    auto p = params(c);
    fn::CropBox box{int(p[1]), int(p[2]), int(p[3]), int(p[4])};
    check_close(fn::resized_crop(input(p[0]), box, int(p[5]), int(p[6]), p[7] != 0), c);
  }
}

TEST_CASE("parity: Resize(int), CenterCrop (with padding), hflip match torchvision") {
  for (auto& c : cases("resize_short")) {
    CAPTURE(c);
    auto p = params(c);
    check_close(fn::resize_short(input(p[0]), int(p[1])), c);
  }
  for (auto& c : cases("center_crop")) {
    CAPTURE(c);
    auto p = params(c);
    check_close(fn::center_crop(input(p[0]), int(p[1]), int(p[2])), c, 0);
  }
  FImage f = input(0);
  fn::hflip(f);
  check_close(f, "hflip/a", 0);
}

TEST_CASE("parity: brightness, contrast, saturation, hue, grayscale match torchvision") {
  struct Op {
    const char* name;
    void (*f)(FImage&, double);
  };
  for (Op op : {Op{"brightness", fn::adjust_brightness}, Op{"contrast", fn::adjust_contrast},
                Op{"saturation", fn::adjust_saturation}, Op{"hue", fn::adjust_hue}}) {
    for (auto& c : cases(op.name)) {
      CAPTURE(c);
      auto p = params(c);
      FImage f = input(p[0]);
      op.f(f, p[1]);
      check_close(f, c);
    }
  }
  FImage g = input(0);
  fn::to_grayscale(g);
  check_close(g, "grayscale/a");
}

TEST_CASE("parity: Gaussian blur, solarize, normalize match torchvision") {
  for (auto& c : cases("blur")) {
    CAPTURE(c);
    auto p = params(c);
    FImage f = input(p[0]);
    fn::gaussian_blur(f, int(p[1]), p[2]);
    check_close(f, c);
  }
  FImage s = input(0);
  fn::solarize(s, params("solarize/a")[1]);
  check_close(s, "solarize/a", 0);
  auto p = params("normalize/a");
  FImage n = input(p[0]);
  fn::normalize(n, {float(p[1]), float(p[2]), float(p[3])}, {float(p[4]), float(p[5]), float(p[6])});
  check_close(n, "normalize/a", 1e-5);
}

TEST_CASE("parity: a whole MoCo v2 view with fixed parameters matches torchvision") {
  auto p = params("chain/v2");
  FImage x = fn::resized_crop(input(p[0]), {int(p[1]), int(p[2]), int(p[3]), int(p[4])}, int(p[5]), int(p[5]));
  const double factors[4] = {p[10], p[11], p[12], p[13]};
  for (int i = 0; i < 4; ++i) {
    int op = int(p[6 + i]);
    if (op == 0) fn::adjust_brightness(x, factors[0]);
    if (op == 1) fn::adjust_contrast(x, factors[1]);
    if (op == 2) fn::adjust_saturation(x, factors[2]);
    if (op == 3) fn::adjust_hue(x, factors[3]);
  }
  fn::gaussian_blur(x, int(p[14]), p[15]);
  fn::hflip(x);
  fn::normalize(x, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f});
  check_close(x, "chain/v2", 2e-5);  // four colour ops, blur and Normalize (/0.22) in a row
}

TEST_CASE("parity: against PIL's uint8 ops the difference is one gray level at most") {
  auto check_u8 = [](const FImage& got, const std::string& c) {
    const auto& ref = fixtures().at(c + "/out");  // H x W x C uint8
    REQUIRE(ref.shape.size() == 3);
    REQUIRE(ref.shape[0] == got.h);
    REQUIRE(ref.shape[1] == got.w);
    REQUIRE(ref.shape[2] == got.c);
    std::vector<uint8_t> r = ref.as<uint8_t>();
    int worst = 0;
    for (int y = 0; y < got.h; ++y)
      for (int x = 0; x < got.w; ++x)
        for (int ch = 0; ch < got.c; ++ch) {
          int ours = int(std::lround(got.at(ch, y, x) * 255.0f));
          worst = std::max(worst, std::abs(ours - int(r[(size_t(y) * got.w + x) * got.c + ch])));
        }
    CAPTURE(c);
    CHECK(worst <= 1);
  };
  for (auto& c : {"pil/resized_crop_down", "pil/resized_crop_up"}) {
    auto p = params(c);
    check_u8(fn::resized_crop(input(p[0]), {int(p[1]), int(p[2]), int(p[3]), int(p[4])}, int(p[5]), int(p[6])), c);
  }
  FImage b = input(0);
  fn::adjust_brightness(b, params("pil/brightness")[1]);
  check_u8(b, "pil/brightness");
  FImage s = input(0);
  fn::adjust_saturation(s, params("pil/saturation")[1]);
  check_u8(s, "pil/saturation");
  FImage c = input(0);
  fn::adjust_contrast(c, params("pil/contrast")[1]);
  check_u8(c, "pil/contrast");
}
