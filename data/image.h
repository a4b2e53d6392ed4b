// Image types of the data pipeline, independent of the tensor core.
//   Image  : 8-bit, height x width x channels (HWC), as decoders and files give it.
//   FImage : float32, channels x height x width (CHW), values in [0, 1] before
//            Normalize; every transform works on this type.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace moco::data {

struct Image {
  int h = 0, w = 0, c = 0;
  std::vector<uint8_t> px;  // h*w*c, row-major, channels interleaved

  Image() = default;
  Image(int h_, int w_, int c_) : h(h_), w(w_), c(c_), px(size_t(h_) * w_ * c_) {}
  uint8_t& at(int y, int x, int ch) { return px[(size_t(y) * w + x) * c + ch]; }
  uint8_t at(int y, int x, int ch) const { return px[(size_t(y) * w + x) * c + ch]; }
  bool empty() const { return px.empty(); }
};

struct FImage {
  int c = 0, h = 0, w = 0;
  std::vector<float> px;  // c*h*w, planar

  FImage() = default;
  FImage(int c_, int h_, int w_) : c(c_), h(h_), w(w_), px(size_t(c_) * h_ * w_) {}
  // Sets the geometry, reusing the buffer's capacity (contents unspecified).
  void reset(int c_, int h_, int w_) {
    c = c_, h = h_, w = w_;
    px.resize(size_t(c_) * h_ * w_);
  }
  float* plane(int ch) { return px.data() + size_t(ch) * h * w; }
  const float* plane(int ch) const { return px.data() + size_t(ch) * h * w; }
  float& at(int ch, int y, int x) { return px[(size_t(ch) * h + y) * w + x]; }
  float at(int ch, int y, int x) const { return px[(size_t(ch) * h + y) * w + x]; }
};

// Converts between channel counts the way PIL's convert() does:
// gray -> RGB replicates, RGB -> gray uses ITU-R 601-2 luma (L = R*299/1000 +
// G*587/1000 + B*114/1000, rounded), gray+alpha / RGBA drop alpha.
Image convert_channels(const Image& img, int channels);
// uint8 HWC -> float CHW in [0, 1] (ToTensor), after convert_channels.
FImage to_float(const Image& img, int channels);
void to_float_into(const Image& img, int channels, FImage& out);  // reuses out's buffer
// float CHW in [0, 1] -> uint8 HWC, rounded and clamped (for writing PNGs).
Image to_u8(const FImage& img);
// Undoes Normalize (x * std + mean) so a normalized view can be shown.
void denormalize(FImage& img, const std::vector<float>& mean, const std::vector<float>& std);

}  // namespace moco::data
