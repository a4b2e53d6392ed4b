// Image transforms on float CHW images (FImage), following torchvision's
// semantics: the functional ops in `fn` match torchvision.transforms.functional
// on float tensors (parity-tested), and the random transforms draw their
// parameters with torchvision's rules (RandomResizedCrop's 10 tries and its
// central-crop fallback, ColorJitter's random order, ...) from a moco::Generator.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/image.h"

namespace moco {
class Generator;
}

namespace moco::data {

// ------------------------------------------------------------ functional ops
namespace fn {

struct CropBox {
  int top = 0, left = 0, height = 0, width = 0;
};

// Crops (zero padding where the box leaves the image, as torchvision's crop).
FImage crop(const FImage& img, int top, int left, int height, int width);
// Crops the box (inside the image) and resizes it to out_h x out_w with
// bilinear interpolation; antialias = true uses PIL's / torchvision's
// antialiased filter (wider support when downscaling), false plain bilinear
// (align_corners = false).
FImage resized_crop(const FImage& img, const CropBox& box, int out_h, int out_w, bool antialias = true);
// The same into `out` (reusing its buffer; `out` must not be `img`).
void resized_crop_into(const FImage& img, const CropBox& box, int out_h, int out_w, bool antialias, FImage& out);
void crop_into(const FImage& img, int top, int left, int height, int width, FImage& out);
FImage resize(const FImage& img, int out_h, int out_w, bool antialias = true);
// The same filter on an 8-bit image of any channel count (alpha resampled like
// the colours, not premultiplied), rounded back to 8 bits: for writing images,
// e.g. `moco export-folder --size`.
Image resize(const Image& img, int out_h, int out_w, bool antialias = true);
// torchvision's Resize(int): the shorter edge becomes `size`, the longer
// int(size * long / short).
FImage resize_short(const FImage& img, int size, bool antialias = true);
FImage center_crop(const FImage& img, int height, int width);
void hflip(FImage& img);
void adjust_brightness(FImage& img, double factor);
void adjust_contrast(FImage& img, double factor);
void adjust_saturation(FImage& img, double factor);
void adjust_hue(FImage& img, double hue);  // hue in [-0.5, 0.5]
// Luma (0.2989 R + 0.587 G + 0.114 B), written back to every channel (a
// 1-channel image is left as it is).
void to_grayscale(FImage& img);
// Separable Gaussian blur, torchvision's kernel (linspace(-(k-1)/2, (k-1)/2, k)),
// reflect padding. kernel_size odd, sigma > 0.
void gaussian_blur(FImage& img, int kernel_size, double sigma);
std::vector<float> gaussian_kernel1d(int kernel_size, double sigma);
void solarize(FImage& img, double threshold);  // x >= threshold -> 1 - x
void normalize(FImage& img, const std::vector<float>& mean, const std::vector<float>& std);

// RandomResizedCrop.get_params.
CropBox random_resized_crop_box(int height, int width, double scale_lo, double scale_hi, double ratio_lo,
                                double ratio_hi, Generator& gen);

}  // namespace fn

// --------------------------------------------------------- transform objects
class Transform {
 public:
  virtual ~Transform() = default;
  virtual void apply(FImage& img, Generator& gen) const = 0;
  // dst = this(src): the same draws and result as copying src and applying;
  // transforms that make a new image (crops) read src directly, saving the copy.
  virtual void apply_from(const FImage& src, FImage& dst, Generator& gen) const {
    dst = src;
    apply(dst, gen);
  }
  virtual std::string str() const = 0;
};
using TransformPtr = std::shared_ptr<const Transform>;

class Compose : public Transform {
 public:
  explicit Compose(std::vector<TransformPtr> ts) : ts_(std::move(ts)) {}
  void apply(FImage& img, Generator& gen) const override;
  void apply_from(const FImage& src, FImage& dst, Generator& gen) const override;
  std::string str() const override;
  const std::vector<TransformPtr>& transforms() const { return ts_; }

 private:
  std::vector<TransformPtr> ts_;
};

// Applies `t` with probability p (torchvision: skip when p < rand()).
class RandomApply : public Transform {
 public:
  RandomApply(TransformPtr t, double p) : t_(std::move(t)), p_(p) {}
  void apply(FImage& img, Generator& gen) const override;
  std::string str() const override;

 private:
  TransformPtr t_;
  double p_;
};

class RandomResizedCrop : public Transform {
 public:
  explicit RandomResizedCrop(int size, double scale_lo = 0.08, double scale_hi = 1.0, double ratio_lo = 3.0 / 4.0,
                             double ratio_hi = 4.0 / 3.0);
  void apply(FImage& img, Generator& gen) const override;
  void apply_from(const FImage& src, FImage& dst, Generator& gen) const override;
  std::string str() const override;

 private:
  int size_;
  double s0_, s1_, r0_, r1_;
};

class Resize : public Transform {  // shorter edge -> size
 public:
  explicit Resize(int size) : size_(size) {}
  void apply(FImage& img, Generator& gen) const override;
  std::string str() const override;

 private:
  int size_;
};

class CenterCrop : public Transform {
 public:
  explicit CenterCrop(int size) : size_(size) {}
  void apply(FImage& img, Generator& gen) const override;
  std::string str() const override;

 private:
  int size_;
};

class RandomHorizontalFlip : public Transform {
 public:
  explicit RandomHorizontalFlip(double p = 0.5) : p_(p) {}
  void apply(FImage& img, Generator& gen) const override;
  std::string str() const override;

 private:
  double p_;
};

// ColorJitter(brightness, contrast, saturation, hue): factors drawn from
// [max(0, 1-b), 1+b] (and [-h, h] for hue), applied in a random order.
class ColorJitter : public Transform {
 public:
  ColorJitter(double brightness, double contrast, double saturation, double hue);
  void apply(FImage& img, Generator& gen) const override;
  std::string str() const override;

 private:
  double b_, c_, s_, h_;
};

class RandomGrayscale : public Transform {
 public:
  explicit RandomGrayscale(double p = 0.1) : p_(p) {}
  void apply(FImage& img, Generator& gen) const override;
  std::string str() const override;

 private:
  double p_;
};

// sigma ~ U[sigma_lo, sigma_hi] per call.
class GaussianBlur : public Transform {
 public:
  GaussianBlur(int kernel_size, double sigma_lo, double sigma_hi);
  void apply(FImage& img, Generator& gen) const override;
  std::string str() const override;

 private:
  int k_;
  double lo_, hi_;
};

class Solarize : public Transform {  // MoCo v3's Solarize (PIL threshold 128)
 public:
  explicit Solarize(double threshold = 0.5) : t_(threshold) {}
  void apply(FImage& img, Generator& gen) const override;
  std::string str() const override;

 private:
  double t_;
};

class Normalize : public Transform {
 public:
  Normalize(std::vector<float> mean, std::vector<float> std);
  void apply(FImage& img, Generator& gen) const override;
  std::string str() const override;

 private:
  std::vector<float> mean_, std_;
};

// ------------------------------------------------------------------ pipelines
// A sample transform: an 8-bit image becomes `channels` channels in float
// (ToTensor) and then one float view per entry of `views` (two for the
// query/key crops of MoCo; one for evaluation).
struct Pipeline {
  int channels = 3;
  int size = 0;  // every view is size x size
  std::vector<TransformPtr> views;
  std::string name;

  std::vector<FImage> operator()(const Image& img, Generator& gen) const;
  // The same, handing each finished view to `sink(view_index, image)` from
  // per-thread buffers that are reused from call to call (no allocation in
  // the steady state); the loader writes them straight into the batch.
  template <class Sink>
  void run(const Image& img, Generator& gen, Sink&& sink) const;
  std::string str() const;
};

namespace detail {
FImage& pipeline_base();  // per-thread buffers of Pipeline::run
FImage& pipeline_work();
}  // namespace detail

template <class Sink>
void Pipeline::run(const Image& img, Generator& gen, Sink&& sink) const {
  FImage& base = detail::pipeline_base();
  FImage& work = detail::pipeline_work();
  to_float_into(img, channels, base);
  for (size_t v = 0; v < views.size(); ++v) {
    views[v]->apply_from(base, work, gen);  // work's buffer is reused
    sink(v, static_cast<const FImage&>(work));
  }
}

struct PresetOptions {
  int size = 224;    // output side: 28, 32, 64, 96, 224 (any >= 8 works)
  int channels = 3;  // the model's input channels
  std::vector<float> mean, std;  // empty: ImageNet's (replicated for 1 channel)
  bool normalize = true;         // false: views stay in [0, 1] (for looking at them)
  double crop_min = -1;          // RandomResizedCrop scale lower bound; -1: the preset's
  // Blur sigma range; negative: MoCo's [0.1, 2.0] at 224 px, scaled by size/224
  // below that so the blur covers the same fraction of the image.
  double sigma_lo = -1, sigma_hi = -1;
  int blur_kernel = 0;  // 0: int(0.1 * size) made odd, at least 3 (23 at 224)
};

int default_blur_kernel(int size);
// MoCo v1: RandomResizedCrop(scale 0.2-1), RandomGrayscale 0.2,
// ColorJitter(0.4, 0.4, 0.4, 0.4), flip.  Two views, same recipe.
Pipeline moco_v1(const PresetOptions& o);
// MoCo v2 (--aug-plus): RandomResizedCrop(0.2-1), ColorJitter(0.4,0.4,0.4,0.1)
// p=0.8, grayscale 0.2, blur p=0.5, flip. Two views.
Pipeline moco_v2(const PresetOptions& o);
// The official CIFAR-10 demo (facebookresearch/moco, branch colab-notebook):
// RandomResizedCrop(0.08-1), flip, ColorJitter(0.4,0.4,0.4,0.1) p=0.8,
// grayscale 0.2, no blur, in that order. Two views.
Pipeline moco_cifar_demo(const PresetOptions& o);
// MoCo v3 (BYOL's recipe): crop(0.08-1), ColorJitter(0.4,0.4,0.2,0.1) p=0.8,
// grayscale 0.2; view 1 blur p=1.0; view 2 blur p=0.1 + solarize p=0.2; flip.
Pipeline moco_v3(const PresetOptions& o);
// main_lincls.py train: RandomResizedCrop(0.08-1), flip. One view.
Pipeline linear_train(const PresetOptions& o);
// Eval: Resize(size*256/224) + CenterCrop(size) for size >= 96; below that
// Resize(size) + CenterCrop(size) (identity on CIFAR / Fashion-MNIST). One view.
Pipeline eval_transform(const PresetOptions& o);
// By name: v1, v2, v3, cifar-demo, lincls, eval.
Pipeline make_preset(const std::string& name, const PresetOptions& o);
// Two independent draws of one recipe (TwoCropsTransform).
Pipeline two_crop(TransformPtr t, int channels, int size, std::string name = "two-crop");

}  // namespace moco::data
