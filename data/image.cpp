#include "data/image.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace moco::data {

namespace {
// PIL's L = R*299/1000 + G*587/1000 + B*114/1000 in 16-bit fixed point, rounded.
inline uint8_t luma(uint8_t r, uint8_t g, uint8_t b) {
  return uint8_t((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}
}  // namespace

Image convert_channels(const Image& img, int channels) {
  MOCO_CHECK(channels == 1 || channels == 3 || channels == 4,
             "convert_channels: target must have 1, 3 or 4 channels, got {}", channels);
  MOCO_CHECK(img.c >= 1 && img.c <= 4, "convert_channels: source has {} channels (expected 1..4)", img.c);
  if (img.c == channels) return img;
  Image out(img.h, img.w, channels);
  const size_t n = size_t(img.h) * img.w;
  const uint8_t* s = img.px.data();
  uint8_t* d = out.px.data();
  const int sc = img.c;
  for (size_t i = 0; i < n; ++i, s += sc, d += channels) {
    uint8_t r, g, b, a = 255;
    if (sc <= 2) {  // gray or gray+alpha
      r = g = b = s[0];
      if (sc == 2) a = s[1];
    } else {
      r = s[0], g = s[1], b = s[2];
      if (sc == 4) a = s[3];
    }
    if (channels == 1) {
      d[0] = sc <= 2 ? r : luma(r, g, b);
    } else {
      d[0] = r, d[1] = g, d[2] = b;
      if (channels == 4) d[3] = a;
    }
  }
  return out;
}

FImage to_float(const Image& src, int channels) {
  FImage out;
  to_float_into(src, channels, out);
  return out;
}

void to_float_into(const Image& src, int channels, FImage& out) {
  MOCO_CHECK(channels == 1 || channels == 3, "to_float: images become 1 or 3 channels, got {}", channels);
  Image conv;
  const Image* img = &src;
  if (src.c != channels) {
    conv = convert_channels(src, channels);
    img = &conv;
  }
  out.reset(channels, img->h, img->w);
  const size_t n = size_t(img->h) * img->w;
  constexpr float inv = 1.0f / 255.0f;
  const uint8_t* s = img->px.data();
  if (channels == 1) {
    float* d = out.plane(0);
    for (size_t i = 0; i < n; ++i) d[i] = float(s[i]) * inv;
  } else {
    float *r = out.plane(0), *g = out.plane(1), *b = out.plane(2);
    for (size_t i = 0; i < n; ++i) {
      r[i] = float(s[3 * i]) * inv;
      g[i] = float(s[3 * i + 1]) * inv;
      b[i] = float(s[3 * i + 2]) * inv;
    }
  }
}

Image to_u8(const FImage& img) {
  Image out(img.h, img.w, img.c);
  const size_t n = size_t(img.h) * img.w;
  for (int ch = 0; ch < img.c; ++ch) {
    const float* s = img.plane(ch);
    for (size_t i = 0; i < n; ++i) {
      float v = std::nearbyint(std::clamp(s[i], 0.0f, 1.0f) * 255.0f);
      out.px[i * img.c + ch] = uint8_t(v);
    }
  }
  return out;
}

void denormalize(FImage& img, const std::vector<float>& mean, const std::vector<float>& std) {
  MOCO_CHECK(mean.size() == size_t(img.c) && std.size() == size_t(img.c),
             "denormalize: image has {} channels but mean/std have {}/{}", img.c, mean.size(), std.size());
  const size_t n = size_t(img.h) * img.w;
  for (int ch = 0; ch < img.c; ++ch) {
    float* p = img.plane(ch);
    for (size_t i = 0; i < n; ++i) p[i] = p[i] * std[ch] + mean[ch];
  }
}

}  // namespace moco::data
