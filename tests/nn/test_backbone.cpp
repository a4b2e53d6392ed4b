// nn::Backbone (nn/models/backbone.h): ResNet and ViT answer the same
// questions (feature width, head name, family, stem) without a type test by
// the caller; forward is head(features(x)), also after the head is replaced.
#include <doctest/doctest.h>

#include "autograd/ops.h"
#include "nn/nn.h"
#include "test_util.h"

using namespace moco;
using namespace moco::nn;

namespace {

std::shared_ptr<Backbone> small_resnet(bool small_stem) {
  ResNetConfig c;
  c.small_stem = small_stem;
  c.width = 4;
  c.num_classes = 5;
  c.in_channels = 1;
  return std::make_shared<ResNet>(c);
}

std::shared_ptr<Backbone> small_vit(bool frozen) {
  ViTConfig c;
  c.img_size = 8;
  c.patch_size = 4;
  c.in_chans = 1;
  c.embed_dim = 12;
  c.depth = 1;
  c.num_heads = 3;
  c.num_classes = 5;
  c.stop_grad_conv1 = frozen;
  return std::make_shared<VisionTransformer>(c);
}

}  // namespace

TEST_CASE("Backbone: ResNet and ViT through one interface") {
  Generator g(3);
  const Tensor x = randn({2, 1, 8, 8}, g);
  struct Want {
    std::shared_ptr<Backbone> b;
    int64_t dim;
    std::string head, family, stem;
  };
  for (auto& w : std::vector<Want>{
           {small_resnet(true), 32, "fc", "resnet", "conv1 3x3 stride 1, no max-pool"},
           {small_resnet(false), 32, "fc", "resnet", "conv1 7x7 stride 2, max-pool 3x3 stride 2"},
           {small_vit(false), 12, "head", "vit", "patch_embed 4x4 stride 4"},
           {small_vit(true), 12, "head", "vit", "patch_embed 4x4 stride 4, frozen"}}) {
    Backbone& b = *w.b;
    CAPTURE(b.type_name());
    CHECK(b.feature_dim() == w.dim);
    CHECK(b.head_name() == w.head);
    CHECK(b.family() == w.family);
    CHECK(b.stem() == w.stem);
    CHECK(&b.head() == &b.child(w.head));
    b.eval();
    const Tensor f = b.features(x);
    CHECK(f.shape() == Shape{2, w.dim});
    CHECK_CLOSE(b.forward(x), b.head()(f), 0, 0);
    // A clone is a Backbone of the same kind; a new head is what forward runs.
    std::shared_ptr<Backbone> c = as_backbone(b.clone());
    CHECK(c->family() == w.family);
    c->replace_child(c->head_name(), std::make_shared<Identity>());
    CHECK_CLOSE(c->forward(x), f, 0, 0);
  }
}

TEST_CASE("as_backbone refuses other modules by name") {
  std::shared_ptr<Module> seq = std::make_shared<Sequential>();
  CHECK_THROWS_CONTAINS(as_backbone(seq),
                        "the backbone must be a ResNet or a VisionTransformer (an nn::Backbone), got a Sequential");
  CHECK_THROWS_CONTAINS(as_backbone(*seq, "probe"), "probe: the backbone must be");
  CHECK_THROWS_CONTAINS(as_backbone(std::shared_ptr<Module>()), "got none (null)");
  std::shared_ptr<Module> r = small_resnet(true);
  CHECK(as_backbone(r).get() == r.get());
}
