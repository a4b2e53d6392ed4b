#include "data/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "data/rng.h"
#include "tensor/error.h"
#include "tensor/random.h"

namespace moco::data {
namespace fn {

// ------------------------------------------------------------- resampling
namespace {

// o[x] += k * s[x]; restrict lets the compiler vectorise without an overlap check.
inline void axpy(float* __restrict o, const float* __restrict s, float k, int n) {
  for (int x = 0; x < n; ++x) o[x] += k * s[x];
}

// Per-output-pixel source window and weights along one axis, computed as
// PyTorch's _upsample_bilinear2d_aa (and PIL's ImagingResample) do: a
// triangle filter whose support grows with the downscale factor, weights
// normalised over the part of the window inside the image.
struct AxisWeights {
  int ksize = 0;
  std::vector<int> start, count;
  std::vector<float> w;  // out * ksize
};

AxisWeights axis_weights(int in_size, int out_size, bool antialias) {
  AxisWeights a;
  const double scale = double(in_size) / double(out_size);
  a.start.resize(size_t(out_size));
  a.count.resize(size_t(out_size));
  if (antialias || scale < 1.0) {
    const bool wide = antialias && scale >= 1.0;
    const double support = wide ? scale : 1.0;
    const double invscale = wide ? 1.0 / scale : 1.0;
    a.ksize = int(std::ceil(support)) * 2 + 1;
    a.w.assign(size_t(out_size) * a.ksize, 0.0f);
    for (int i = 0; i < out_size; ++i) {
      const double center = scale * (i + 0.5);
      const int xmin = std::max(int(center - support + 0.5), 0);
      const int xmax = std::min(int(center + support + 0.5), in_size);
      const int n = std::max(xmax - xmin, 1);
      double total = 0;
      double tmp[64];
      std::vector<double> big;
      double* ww = tmp;
      if (n > 64) {
        big.resize(static_cast<size_t>(n));
        ww = big.data();
      }
      for (int j = 0; j < n; ++j) {
        double x = std::fabs((j + xmin - center + 0.5) * invscale);
        ww[j] = x < 1.0 ? 1.0 - x : 0.0;
        total += ww[j];
      }
      a.start[size_t(i)] = std::min(xmin, in_size - 1);
      a.count[size_t(i)] = n;
      for (int j = 0; j < n; ++j) a.w[size_t(i) * a.ksize + j] = float(total != 0.0 ? ww[j] / total : 0.0);
    }
  } else {
    // Plain bilinear, align_corners = false.
    a.ksize = 2;
    a.w.assign(size_t(out_size) * 2, 0.0f);
    for (int i = 0; i < out_size; ++i) {
      double src = std::max(scale * (i + 0.5) - 0.5, 0.0);
      int i0 = std::min(int(src), in_size - 1);
      int i1 = std::min(i0 + 1, in_size - 1);
      double l = src - i0;
      a.start[size_t(i)] = i0;
      a.count[size_t(i)] = i1 > i0 ? 2 : 1;
      a.w[size_t(i) * 2] = float(i1 > i0 ? 1.0 - l : 1.0);
      if (i1 > i0) a.w[size_t(i) * 2 + 1] = float(l);
    }
  }
  return a;
}

}  // namespace

FImage resized_crop(const FImage& img, const CropBox& b, int out_h, int out_w, bool antialias) {
  FImage out;
  resized_crop_into(img, b, out_h, out_w, antialias, out);
  return out;
}

void resized_crop_into(const FImage& img, const CropBox& b, int out_h, int out_w, bool antialias, FImage& out) {
  MOCO_CHECK(out_h > 0 && out_w > 0, "resized_crop: output size {}x{} must be positive", out_h, out_w);
  MOCO_CHECK(b.height > 0 && b.width > 0 && b.top >= 0 && b.left >= 0 && b.top + b.height <= img.h &&
                 b.left + b.width <= img.w,
             "resized_crop: box (top {}, left {}, {}x{}) not inside the {}x{} image", b.top, b.left, b.height,
             b.width, img.h, img.w);
  if (b.height == out_h && b.width == out_w) return crop_into(img, b.top, b.left, b.height, b.width, out);
  const AxisWeights wx = axis_weights(b.width, out_w, antialias);
  const AxisWeights wy = axis_weights(b.height, out_h, antialias);
  out.reset(img.c, out_h, out_w);
  thread_local std::vector<float> tmp;
  tmp.resize(size_t(b.height) * out_w);
  for (int c = 0; c < img.c; ++c) {
    const float* src = img.plane(c);
    // Horizontal pass over the rows of the box.
    for (int y = 0; y < b.height; ++y) {
      const float* row = src + size_t(b.top + y) * img.w + b.left;
      float* t = tmp.data() + size_t(y) * out_w;
      for (int x = 0; x < out_w; ++x) {
        const float* w = wx.w.data() + size_t(x) * wx.ksize;
        const float* s = row + wx.start[size_t(x)];
        float acc = 0;
        for (int k = 0, n = wx.count[size_t(x)]; k < n; ++k) acc += w[k] * s[k];
        t[x] = acc;
      }
    }
    // Vertical pass, vectorised along the row.
    float* dst = out.plane(c);
    for (int y = 0; y < out_h; ++y) {
      float* o = dst + size_t(y) * out_w;
      const float* w = wy.w.data() + size_t(y) * wy.ksize;
      const int s0 = wy.start[size_t(y)], n = wy.count[size_t(y)];
      std::fill(o, o + out_w, 0.0f);
      for (int k = 0; k < n; ++k) axpy(o, tmp.data() + size_t(s0 + k) * out_w, w[k], out_w);
    }
  }
}

FImage resize(const FImage& img, int out_h, int out_w, bool antialias) {
  return resized_crop(img, CropBox{0, 0, img.h, img.w}, out_h, out_w, antialias);
}

Image resize(const Image& img, int out_h, int out_w, bool antialias) {
  // Planar float of every channel: to_float() stops at 3 and would drop alpha.
  FImage f(img.c, img.h, img.w);
  const size_t n = size_t(img.h) * img.w;
  for (int ch = 0; ch < img.c; ++ch) {
    float* d = f.plane(ch);
    for (size_t i = 0; i < n; ++i) d[i] = float(img.px[i * img.c + ch]) * (1.0f / 255.0f);
  }
  return to_u8(resize(f, out_h, out_w, antialias));
}

FImage resize_short(const FImage& img, int size, bool antialias) {
  MOCO_CHECK(size > 0, "resize: size must be positive, got {}", size);
  int h, w;
  if (img.w <= img.h) {
    w = size;
    h = int(double(size) * img.h / img.w);  // int(size * long / short), as torchvision
  } else {
    h = size;
    w = int(double(size) * img.w / img.h);
  }
  if (h == img.h && w == img.w) return img;
  return resize(img, h, w, antialias);
}

FImage crop(const FImage& img, int top, int left, int height, int width) {
  FImage out;
  crop_into(img, top, left, height, width, out);
  return out;
}

void crop_into(const FImage& img, int top, int left, int height, int width, FImage& out) {
  MOCO_CHECK(height > 0 && width > 0, "crop: size {}x{} must be positive", height, width);
  out.reset(img.c, height, width);
  const bool inside = top >= 0 && left >= 0 && top + height <= img.h && left + width <= img.w;
  for (int c = 0; c < img.c; ++c) {
    const float* s = img.plane(c);
    float* d = out.plane(c);
    for (int y = 0; y < height; ++y) {
      const int sy = top + y;
      if (inside) {
        std::memcpy(d + size_t(y) * width, s + size_t(sy) * img.w + left, sizeof(float) * size_t(width));
        continue;
      }
      for (int x = 0; x < width; ++x) {
        const int sx = left + x;
        d[size_t(y) * width + x] = (sy >= 0 && sy < img.h && sx >= 0 && sx < img.w) ? s[size_t(sy) * img.w + sx] : 0.0f;
      }
    }
  }
}

FImage center_crop(const FImage& img, int height, int width) {
  // torchvision pads (left = (cw - w) // 2, top likewise) when the crop is larger.
  int H = img.h, W = img.w, pad_top = 0, pad_left = 0;
  if (width > W || height > H) {
    pad_left = width > W ? (width - W) / 2 : 0;
    pad_top = height > H ? (height - H) / 2 : 0;
    W += width > W ? (width - img.w) : 0;  // padded size
    H += height > H ? (height - img.h) : 0;
  }
  const int top = int(std::nearbyint((H - height) / 2.0)) - pad_top;
  const int left = int(std::nearbyint((W - width) / 2.0)) - pad_left;
  return crop(img, top, left, height, width);
}

void hflip(FImage& img) {
  for (int c = 0; c < img.c; ++c)
    for (int y = 0; y < img.h; ++y) {
      float* r = img.plane(c) + size_t(y) * img.w;
      std::reverse(r, r + img.w);
    }
}

// ---------------------------------------------------------------- colour
namespace {

inline float clamp01(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }

// torchvision's _blend: (r * a + (1 - r) * b).clamp(0, 1), computed in float.
inline float blend(float a, float b, float r, float r1) { return clamp01(r * a + r1 * b); }

inline float luma(float r, float g, float b) { return 0.2989f * r + 0.587f * g + 0.114f * b; }

}  // namespace

void adjust_brightness(FImage& img, double factor) {
  MOCO_CHECK(factor >= 0, "adjust_brightness: factor {} must be >= 0", factor);
  const float r = float(factor);
  for (float& v : img.px) v = clamp01(r * v);
}

void adjust_contrast(FImage& img, double factor) {
  MOCO_CHECK(factor >= 0, "adjust_contrast: factor {} must be >= 0", factor);
  const size_t n = size_t(img.h) * img.w;
  double sum = 0;
  if (img.c == 3) {
    const float *R = img.plane(0), *G = img.plane(1), *B = img.plane(2);
    for (size_t i = 0; i < n; ++i) sum += luma(R[i], G[i], B[i]);
  } else {
    for (float v : img.px) sum += v;
  }
  const float mean = float(sum / double(img.c == 3 ? n : img.px.size()));
  const float r = float(factor), r1 = float(1.0 - factor);
  for (float& v : img.px) v = blend(v, mean, r, r1);
}

void adjust_saturation(FImage& img, double factor) {
  MOCO_CHECK(factor >= 0, "adjust_saturation: factor {} must be >= 0", factor);
  if (img.c != 3) return;  // PIL leaves gray images alone
  const size_t n = size_t(img.h) * img.w;
  float *R = img.plane(0), *G = img.plane(1), *B = img.plane(2);
  const float r = float(factor), r1 = float(1.0 - factor);
  for (size_t i = 0; i < n; ++i) {
    const float l = luma(R[i], G[i], B[i]);
    R[i] = blend(R[i], l, r, r1);
    G[i] = blend(G[i], l, r, r1);
    B[i] = blend(B[i], l, r, r1);
  }
}

void adjust_hue(FImage& img, double hue) {
  MOCO_CHECK(hue >= -0.5 && hue <= 0.5, "adjust_hue: hue {} not in [-0.5, 0.5]", hue);
  if (img.c != 3) return;
  const size_t n = size_t(img.h) * img.w;
  float *R = img.plane(0), *G = img.plane(1), *B = img.plane(2);
  const float hf = float(hue);
  for (size_t i = 0; i < n; ++i) {
    const float r = R[i], g = G[i], b = B[i];
    // _rgb2hsv
    const float maxc = std::max(r, std::max(g, b)), minc = std::min(r, std::min(g, b));
    const bool eqc = maxc == minc;
    const float cr = maxc - minc;
    const float s = cr / (eqc ? 1.0f : maxc);
    const float crd = eqc ? 1.0f : cr;
    const float rc = (maxc - r) / crd, gc = (maxc - g) / crd, bc = (maxc - b) / crd;
    float h;
    if (maxc == r) h = bc - gc;
    else if (maxc == g) h = 2.0f + rc - bc;
    else h = 4.0f + gc - rc;
    h = h / 6.0f + 1.0f;  // in [5/6, 2]; fmod(h, 1) is exact subtraction here
    if (h >= 1.0f) h -= 1.0f;
    if (h >= 1.0f) h -= 1.0f;
    // shift: (h + hue) % 1.0 with Python's sign rule
    h = h + hf;
    h = h - std::floor(h);
    if (h >= 1.0f) h -= 1.0f;
    // _hsv2rgb
    const float v = maxc;
    const float i6 = std::floor(h * 6.0f);
    const float f = h * 6.0f - i6;
    int sector = int(i6) % 6;
    if (sector < 0) sector += 6;
    const float p = clamp01(v * (1.0f - s));
    const float q = clamp01(v * (1.0f - s * f));
    const float t = clamp01(v * (1.0f - s * (1.0f - f)));
    float o0, o1, o2;
    switch (sector) {
      case 0: o0 = v, o1 = t, o2 = p; break;
      case 1: o0 = q, o1 = v, o2 = p; break;
      case 2: o0 = p, o1 = v, o2 = t; break;
      case 3: o0 = p, o1 = q, o2 = v; break;
      case 4: o0 = t, o1 = p, o2 = v; break;
      default: o0 = v, o1 = p, o2 = q; break;
    }
    R[i] = o0, G[i] = o1, B[i] = o2;
  }
}

void to_grayscale(FImage& img) {
  if (img.c != 3) return;
  const size_t n = size_t(img.h) * img.w;
  float *R = img.plane(0), *G = img.plane(1), *B = img.plane(2);
  for (size_t i = 0; i < n; ++i) R[i] = G[i] = B[i] = luma(R[i], G[i], B[i]);
}

// ------------------------------------------------------------------ blur
std::vector<float> gaussian_kernel1d(int k, double sigma) {
  MOCO_CHECK(k > 0 && k % 2 == 1, "gaussian_blur: kernel size must be odd and positive, got {}", k);
  MOCO_CHECK(sigma > 0, "gaussian_blur: sigma must be > 0, got {}", sigma);
  std::vector<double> pdf(static_cast<size_t>(k));
  const double half = (k - 1) * 0.5;
  double sum = 0;
  for (int i = 0; i < k; ++i) {
    double x = -half + i;
    pdf[size_t(i)] = std::exp(-0.5 * (x / sigma) * (x / sigma));
    sum += pdf[size_t(i)];
  }
  std::vector<float> out(static_cast<size_t>(k));
  for (int i = 0; i < k; ++i) out[size_t(i)] = float(pdf[size_t(i)] / sum);
  return out;
}

namespace {
// Reflect an index into [0, n) without repeating the edge (torch's "reflect").
inline int reflect(int i, int n) {
  if (n == 1) return 0;
  const int period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}
}  // namespace

void gaussian_blur(FImage& img, int kernel_size, double sigma) {
  const std::vector<float> k = gaussian_kernel1d(kernel_size, sigma);
  const int r = kernel_size / 2;
  const int H = img.h, W = img.w;
  thread_local std::vector<float> row, tmp;
  thread_local std::vector<int> yidx;
  row.resize(size_t(W + 2 * r));
  tmp.resize(size_t(H) * W);
  yidx.resize(size_t(H + 2 * r));
  for (int y = -r; y < H + r; ++y) yidx[size_t(y + r)] = reflect(y, H);
  for (int c = 0; c < img.c; ++c) {
    float* p = img.plane(c);
    // Horizontal: pad each row by reflection, convolve.
    for (int y = 0; y < H; ++y) {
      const float* s = p + size_t(y) * W;
      for (int x = -r; x < W + r; ++x) row[size_t(x + r)] = s[reflect(x, W)];
      // Tap-major so the inner loop runs along x (vectorised); each output
      // still sums its taps in order j = 0..k-1.
      float* t = tmp.data() + size_t(y) * W;
      std::fill(t, t + W, 0.0f);
      for (int j = 0; j < kernel_size; ++j) axpy(t, row.data() + j, k[size_t(j)], W);
    }
    // Vertical: rows of tmp with reflected row indices, vectorised along x.
    for (int y = 0; y < H; ++y) {
      float* o = p + size_t(y) * W;
      std::fill(o, o + W, 0.0f);
      for (int j = 0; j < kernel_size; ++j) axpy(o, tmp.data() + size_t(yidx[size_t(y + j)]) * W, k[size_t(j)], W);
    }
  }
}

void solarize(FImage& img, double threshold) {
  const float t = float(threshold);
  for (float& v : img.px)
    if (v >= t) v = 1.0f - v;
}

void normalize(FImage& img, const std::vector<float>& mean, const std::vector<float>& std) {
  MOCO_CHECK(mean.size() == size_t(img.c) && std.size() == size_t(img.c),
             "Normalize: the image has {} channels but mean has {} and std {} values", img.c, mean.size(),
             std.size());
  const size_t n = size_t(img.h) * img.w;
  for (int c = 0; c < img.c; ++c) {
    float* p = img.plane(c);
    const float m = mean[size_t(c)], s = std[size_t(c)];
    for (size_t i = 0; i < n; ++i) p[i] = (p[i] - m) / s;
  }
}

CropBox random_resized_crop_box(int height, int width, double s0, double s1, double r0, double r1, Generator& gen) {
  const double area = double(height) * width;
  const double lr0 = std::log(r0), lr1 = std::log(r1);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * gen.uniform(s0, s1);
    const double aspect = std::exp(gen.uniform(lr0, lr1));
    const int w = int(std::nearbyint(std::sqrt(target * aspect)));  // Python round(): half to even
    const int h = int(std::nearbyint(std::sqrt(target / aspect)));
    if (0 < w && w <= width && 0 < h && h <= height) {
      const int i = int(gen.randint(0, height - h + 1));
      const int j = int(gen.randint(0, width - w + 1));
      return {i, j, h, w};
    }
  }
  // Fallback: central crop with the ratio clamped into [r0, r1].
  const double in_ratio = double(width) / height;
  int w, h;
  if (in_ratio < std::min(r0, r1)) {
    w = width;
    h = int(std::nearbyint(w / std::min(r0, r1)));
  } else if (in_ratio > std::max(r0, r1)) {
    h = height;
    w = int(std::nearbyint(h * std::max(r0, r1)));
  } else {
    w = width;
    h = height;
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

}  // namespace fn

// ------------------------------------------------------------- transforms

void Compose::apply(FImage& img, Generator& gen) const {
  for (auto& t : ts_) t->apply(img, gen);
}

void Compose::apply_from(const FImage& src, FImage& dst, Generator& gen) const {
  if (ts_.empty()) {
    dst = src;
    return;
  }
  ts_[0]->apply_from(src, dst, gen);
  for (size_t i = 1; i < ts_.size(); ++i) ts_[i]->apply(dst, gen);
}

std::string Compose::str() const {
  std::string s = "Compose(";
  for (size_t i = 0; i < ts_.size(); ++i) s += (i ? ", " : "") + ts_[i]->str();
  return s + ")";
}

void RandomApply::apply(FImage& img, Generator& gen) const {
  if (gen.uniform() <= p_) t_->apply(img, gen);
}
std::string RandomApply::str() const { return fmt::format("RandomApply({}, p={:g})", t_->str(), p_); }

RandomResizedCrop::RandomResizedCrop(int size, double s0, double s1, double r0, double r1)
    : size_(size), s0_(s0), s1_(s1), r0_(r0), r1_(r1) {
  MOCO_CHECK(size > 0, "RandomResizedCrop: size must be positive, got {}", size);
  MOCO_CHECK(s0 > 0 && s0 <= s1 && s1 <= 1, "RandomResizedCrop: scale ({}, {}) must satisfy 0 < lo <= hi <= 1", s0,
             s1);
  MOCO_CHECK(r0 > 0 && r0 <= r1, "RandomResizedCrop: ratio ({}, {}) must satisfy 0 < lo <= hi", r0, r1);
}
void RandomResizedCrop::apply(FImage& img, Generator& gen) const {
  fn::CropBox b = fn::random_resized_crop_box(img.h, img.w, s0_, s1_, r0_, r1_, gen);
  thread_local FImage spare;  // the buffers swap roles, so neither is reallocated once grown
  fn::resized_crop_into(img, b, size_, size_, true, spare);
  std::swap(img, spare);
}
void RandomResizedCrop::apply_from(const FImage& src, FImage& dst, Generator& gen) const {
  fn::CropBox b = fn::random_resized_crop_box(src.h, src.w, s0_, s1_, r0_, r1_, gen);
  fn::resized_crop_into(src, b, size_, size_, true, dst);
}
std::string RandomResizedCrop::str() const {
  return fmt::format("RandomResizedCrop({}, scale=({:g}, {:g}), ratio=({:.4g}, {:.4g}))", size_, s0_, s1_, r0_, r1_);
}

void Resize::apply(FImage& img, Generator&) const { img = fn::resize_short(img, size_, true); }
std::string Resize::str() const { return fmt::format("Resize({})", size_); }

void CenterCrop::apply(FImage& img, Generator&) const {
  if (img.h != size_ || img.w != size_) img = fn::center_crop(img, size_, size_);
}
std::string CenterCrop::str() const { return fmt::format("CenterCrop({})", size_); }

void RandomHorizontalFlip::apply(FImage& img, Generator& gen) const {
  if (gen.uniform() < p_) fn::hflip(img);
}
std::string RandomHorizontalFlip::str() const { return fmt::format("RandomHorizontalFlip(p={:g})", p_); }

ColorJitter::ColorJitter(double b, double c, double s, double h) : b_(b), c_(c), s_(s), h_(h) {
  MOCO_CHECK(b >= 0 && c >= 0 && s >= 0, "ColorJitter: brightness/contrast/saturation must be >= 0, got {}/{}/{}", b,
             c, s);
  MOCO_CHECK(h >= 0 && h <= 0.5, "ColorJitter: hue must be in [0, 0.5], got {}", h);
}
void ColorJitter::apply(FImage& img, Generator& gen) const {
  int order[4] = {0, 1, 2, 3};
  for (int i = 3; i > 0; --i) std::swap(order[i], order[gen.randint(0, i + 1)]);
  // A jitter of 0 is torchvision's None: no draw, no op.
  const double bf = b_ > 0 ? gen.uniform(std::max(0.0, 1 - b_), 1 + b_) : 1;
  const double cf = c_ > 0 ? gen.uniform(std::max(0.0, 1 - c_), 1 + c_) : 1;
  const double sf = s_ > 0 ? gen.uniform(std::max(0.0, 1 - s_), 1 + s_) : 1;
  const double hf = h_ > 0 ? gen.uniform(-h_, h_) : 0;
  for (int op : order) {
    if (op == 0 && b_ > 0) fn::adjust_brightness(img, bf);
    if (op == 1 && c_ > 0) fn::adjust_contrast(img, cf);
    if (op == 2 && s_ > 0) fn::adjust_saturation(img, sf);
    if (op == 3 && h_ > 0) fn::adjust_hue(img, hf);
  }
}
std::string ColorJitter::str() const {
  return fmt::format("ColorJitter({:g}, {:g}, {:g}, {:g})", b_, c_, s_, h_);
}

void RandomGrayscale::apply(FImage& img, Generator& gen) const {
  if (gen.uniform() < p_) fn::to_grayscale(img);
}
std::string RandomGrayscale::str() const { return fmt::format("RandomGrayscale(p={:g})", p_); }

GaussianBlur::GaussianBlur(int k, double lo, double hi) : k_(k), lo_(lo), hi_(hi) {
  MOCO_CHECK(k > 0 && k % 2 == 1, "GaussianBlur: kernel size must be odd and positive, got {}", k);
  MOCO_CHECK(lo > 0 && lo <= hi, "GaussianBlur: sigma range ({}, {}) must satisfy 0 < lo <= hi", lo, hi);
}
void GaussianBlur::apply(FImage& img, Generator& gen) const { fn::gaussian_blur(img, k_, gen.uniform(lo_, hi_)); }
std::string GaussianBlur::str() const { return fmt::format("GaussianBlur(k={}, sigma=[{:.3g}, {:.3g}])", k_, lo_, hi_); }

void Solarize::apply(FImage& img, Generator&) const { fn::solarize(img, t_); }
std::string Solarize::str() const { return fmt::format("Solarize({:g})", t_); }

Normalize::Normalize(std::vector<float> mean, std::vector<float> std) : mean_(std::move(mean)), std_(std::move(std)) {
  MOCO_CHECK(!mean_.empty() && mean_.size() == std_.size(), "Normalize: mean ({}) and std ({}) sizes differ",
             mean_.size(), std_.size());
  for (float s : std_) MOCO_CHECK(s > 0, "Normalize: std must be > 0, got {}", s);
}
void Normalize::apply(FImage& img, Generator&) const { fn::normalize(img, mean_, std_); }
std::string Normalize::str() const {
  return fmt::format("Normalize(mean=[{:.4g}], std=[{:.4g}])", fmt::join(mean_, ", "), fmt::join(std_, ", "));
}

// --------------------------------------------------------------- pipelines

namespace detail {
FImage& pipeline_base() {
  thread_local FImage f;
  return f;
}
FImage& pipeline_work() {
  thread_local FImage f;
  return f;
}
}  // namespace detail

std::vector<FImage> Pipeline::operator()(const Image& img, Generator& gen) const {
  MOCO_CHECK(!views.empty(), "Pipeline {}: no views", name);
  FImage base = to_float(img, channels);
  std::vector<FImage> out;
  out.reserve(views.size());
  for (size_t v = 0; v < views.size(); ++v) {
    out.push_back(v + 1 == views.size() ? std::move(base) : base);
    views[v]->apply(out.back(), gen);
  }
  return out;
}

std::string Pipeline::str() const {
  std::string s = fmt::format("{} ({} channel(s), {} px):", name, channels, size);
  for (size_t v = 0; v < views.size(); ++v) s += fmt::format("\n  view {}: {}", v + 1, views[v]->str());
  return s;
}

int default_blur_kernel(int size) {
  int k = int(0.1 * size);
  if (k % 2 == 0) ++k;
  return std::max(k, 3);
}

namespace {

struct Resolved {
  int size, channels, kernel;
  double sigma_lo, sigma_hi;
  std::vector<float> mean, std;
  bool normalize;
};

Resolved resolve(const PresetOptions& o) {
  MOCO_CHECK(o.size >= 8, "preset: image size {} too small (>= 8)", o.size);
  MOCO_CHECK(o.channels == 1 || o.channels == 3, "preset: channels must be 1 or 3, got {}", o.channels);
  Resolved r;
  r.size = o.size;
  r.channels = o.channels;
  r.kernel = o.blur_kernel > 0 ? o.blur_kernel : default_blur_kernel(o.size);
  const double f = std::min(1.0, o.size / 224.0);
  r.sigma_lo = o.sigma_lo > 0 ? o.sigma_lo : 0.1 * f;
  r.sigma_hi = o.sigma_hi > 0 ? o.sigma_hi : 2.0 * f;
  r.mean = o.mean;
  r.std = o.std;
  if (r.mean.empty()) r.mean = {0.485f, 0.456f, 0.406f};
  if (r.std.empty()) r.std = {0.229f, 0.224f, 0.225f};
  if (int(r.mean.size()) != o.channels) r.mean.assign(size_t(o.channels), r.mean[0]);
  if (int(r.std.size()) != o.channels) r.std.assign(size_t(o.channels), r.std[0]);
  r.normalize = o.normalize;
  return r;
}

TransformPtr compose(std::vector<TransformPtr> ts, const Resolved& r) {
  if (r.normalize) ts.push_back(std::make_shared<Normalize>(r.mean, r.std));
  return std::make_shared<Compose>(std::move(ts));
}

template <class T, class... A>
TransformPtr mk(A&&... a) {
  return std::make_shared<T>(std::forward<A>(a)...);
}

double crop_min(const PresetOptions& o, double def) { return o.crop_min > 0 ? o.crop_min : def; }

}  // namespace

Pipeline two_crop(TransformPtr t, int channels, int size, std::string name) {
  Pipeline p;
  p.channels = channels;
  p.size = size;
  p.views = {t, t};
  p.name = std::move(name);
  return p;
}

Pipeline moco_v1(const PresetOptions& o) {
  Resolved r = resolve(o);
  auto t = compose({mk<RandomResizedCrop>(r.size, crop_min(o, 0.2), 1.0), mk<RandomGrayscale>(0.2),
                    mk<ColorJitter>(0.4, 0.4, 0.4, 0.4), mk<RandomHorizontalFlip>(0.5)},
                   r);
  return two_crop(t, r.channels, r.size, "moco-v1");
}

Pipeline moco_v2(const PresetOptions& o) {
  Resolved r = resolve(o);
  auto t = compose({mk<RandomResizedCrop>(r.size, crop_min(o, 0.2), 1.0),
                    mk<RandomApply>(mk<ColorJitter>(0.4, 0.4, 0.4, 0.1), 0.8), mk<RandomGrayscale>(0.2),
                    mk<RandomApply>(mk<GaussianBlur>(r.kernel, r.sigma_lo, r.sigma_hi), 0.5),
                    mk<RandomHorizontalFlip>(0.5)},
                   r);
  return two_crop(t, r.channels, r.size, "moco-v2");
}

Pipeline moco_cifar_demo(const PresetOptions& o) {
  Resolved r = resolve(o);
  auto t = compose({mk<RandomResizedCrop>(r.size, crop_min(o, 0.08), 1.0), mk<RandomHorizontalFlip>(0.5),
                    mk<RandomApply>(mk<ColorJitter>(0.4, 0.4, 0.4, 0.1), 0.8), mk<RandomGrayscale>(0.2)},
                   r);
  return two_crop(t, r.channels, r.size, "cifar-demo");
}

Pipeline moco_v3(const PresetOptions& o) {
  Resolved r = resolve(o);
  const double cm = crop_min(o, 0.08);
  auto view = [&](double blur_p, double solarize_p) {
    std::vector<TransformPtr> ts = {mk<RandomResizedCrop>(r.size, cm, 1.0),
                                    mk<RandomApply>(mk<ColorJitter>(0.4, 0.4, 0.2, 0.1), 0.8),
                                    mk<RandomGrayscale>(0.2),
                                    mk<RandomApply>(mk<GaussianBlur>(r.kernel, r.sigma_lo, r.sigma_hi), blur_p)};
    if (solarize_p > 0) ts.push_back(mk<RandomApply>(mk<Solarize>(0.5), solarize_p));
    ts.push_back(mk<RandomHorizontalFlip>(0.5));
    return compose(ts, r);
  };
  Pipeline p;
  p.channels = r.channels;
  p.size = r.size;
  p.views = {view(1.0, 0.0), view(0.1, 0.2)};
  p.name = "moco-v3";
  return p;
}

Pipeline linear_train(const PresetOptions& o) {
  Resolved r = resolve(o);
  Pipeline p;
  p.channels = r.channels;
  p.size = r.size;
  p.views = {compose({mk<RandomResizedCrop>(r.size, crop_min(o, 0.08), 1.0), mk<RandomHorizontalFlip>(0.5)}, r)};
  p.name = "lincls-train";
  return p;
}

Pipeline eval_transform(const PresetOptions& o) {
  Resolved r = resolve(o);
  const int resize = r.size >= 96 ? int(r.size * 256 / 224) : r.size;
  Pipeline p;
  p.channels = r.channels;
  p.size = r.size;
  p.views = {compose({mk<Resize>(resize), mk<CenterCrop>(r.size)}, r)};
  p.name = "eval";
  return p;
}

Pipeline make_preset(const std::string& name, const PresetOptions& o) {
  if (name == "v1" || name == "moco-v1") return moco_v1(o);
  if (name == "v2" || name == "moco-v2" || name == "aug-plus") return moco_v2(o);
  if (name == "v3" || name == "moco-v3") return moco_v3(o);
  if (name == "cifar-demo") return moco_cifar_demo(o);
  if (name == "lincls" || name == "linear" || name == "lincls-train") return linear_train(o);
  if (name == "eval" || name == "test") return eval_transform(o);
  fail("unknown augmentation preset '{}' (expected v1, v2, v3, cifar-demo, lincls or eval)", name);
}

}  // namespace moco::data
