// A backbone described by value (architecture and sizes), as checkpoints keep
// it in their metadata, and what is built from it.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "nn/models/backbone.h"
#include "nn/module.h"

namespace moco::train {

struct ModelSpec {
  std::string arch = "resnet18";  // resnet18|resnet34|resnet50|vit_tiny|vit_small|vit_base
  int64_t width = 64;             // ResNet: channels of layer1
  bool small_stem = true;         // ResNet: 3x3 stride-1 conv1, no max-pool
  int64_t patch = 4, depth = 12, dim = 192, heads = 3;  // ViT
  int64_t in_chans = 3, img_size = 32, num_classes = 10;
  bool stop_grad_conv1 = false;     // ViT: frozen random patch projection (MoCo v3)
  bool zero_init_residual = false;  // ResNet: MoCo v3 builds its ResNet this way
  bool stem_default_init = false;   // ResNet: conv1 with PyTorch's default init (the CIFAR-10 demo)

  bool is_vit() const { return arch.rfind("vit", 0) == 0; }
  std::string head() const { return is_vit() ? "head" : "fc"; }
  std::string describe() const;
  std::string outputs() const;  // "4 classes" or "features only"
  std::map<std::string, std::string> to_meta() const;  // into checkpoint metadata
  static ModelSpec from_meta(const std::map<std::string, std::string>& meta);
};
// The spec of `arch` with the sizes asked for, "auto" ones resolved and
// every one checked (errors name the flags of `moco pretrain`): ViT `patch`
// 0 is 16 from 96 px up, else 4, and `depth`, `dim`, `heads` 0 the arch's;
// a ResNet's `stem` auto is small up to 64 px. The sizes of the other kind
// of backbone are ignored.
struct ModelSizes {
  int64_t width = 64;
  std::string stem = "auto";  // small | imagenet | auto
  int64_t patch = 0, depth = 0, dim = 0, heads = 0;
};
ModelSpec resolve_model_spec(const std::string& arch, const ModelSizes& sizes, int img_size, int channels,
                             int64_t num_classes);
// Builds the backbone (after check_model_fits with one copy of the weights).
std::shared_ptr<nn::Backbone> make_backbone(const ModelSpec& s);
// The backbone's parameter count without building it: a polynomial of
// degree 2 in the ResNet's width or the ViT's dimension, fitted exactly from
// three tiny builds.
double count_parameters(const ModelSpec& s);
// Refuses (a UsageError with the numbers) a model whose weights, times
// `copies` (gradients, optimiser state, a key encoder), plus the activations
// of `batch` images would not fit in the memory the machine has available.
void check_model_fits(const ModelSpec& s, double copies, int64_t batch, const std::string& what);

}  // namespace moco::train
