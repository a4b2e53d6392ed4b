// MoCo v2 pretraining on Fashion-MNIST with a kNN evaluation, on the public
// headers only: the shape of main_moco.py in ~100 lines. Build: `make`
// (build/examples/train_moco_v2); run:
//
//   build/examples/train_moco_v2 [epochs 5] [fraction of the images 0.1] [ResNet width 16]
//
// It prints the loss and pretext accuracy per epoch and the kNN top-1 of the
// backbone's features on the test split, before and after pretraining.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "contrastive/contrastive.h"
#include "data/loader.h"
#include "data/transforms.h"
#include "nn/init.h"
#include "optim/optim.h"
#include "train/data_setup.h"
#include "train/metrics.h"
#include "train/model_spec.h"

using namespace moco;

// kNN top-1 (%) of the backbone's pooled features: the train split is the
// memory bank, the test split the queries (MoCo's CIFAR-10 demo monitor).
static double knn_top1(contrastive::MoCo& model, const train::DataSetup& d) {
  data::LoaderOptions lo;
  lo.batch_size = 256;
  lo.shuffle = lo.drop_last = false;
  data::Pipeline eval = data::eval_transform(train::preset_options(d));
  data::DataLoader bank(d.train, eval, lo), test(d.val, eval, lo);
  nn::Backbone& encoder = model.query_encoder();
  encoder.eval();
  auto features = [&](const Tensor& x) { return encoder.features(x); };
  const double top1 = contrastive::knn_evaluate(features, bank, test, int64_t(d.classes.size()), 200, 0.1).top1();
  encoder.train();
  return top1;
}

int main(int argc, char** argv) try {
  const int64_t epochs = argc > 1 ? std::atoll(argv[1]) : 5;
  const double fraction = argc > 2 ? std::atof(argv[2]) : 0.1;
  const int64_t width = argc > 3 ? std::atoll(argv[3]) : 16;
  MOCO_CHECK(epochs >= 1 && fraction > 0 && fraction <= 1 && width >= 1,
             "usage: train_moco_v2 [epochs >= 1] [fraction in (0, 1]] [width >= 1]");

  // Data: a seeded fraction of each class of Fashion-MNIST (Debian's
  // dataset-fashion-mnist, or $MOCO_FASHION_MNIST), 28x28 gray images.
  train::DataOptions opts;
  opts.dataset = "fashion-mnist";
  opts.train_fraction = fraction;
  const train::DataSetup d = train::open_data(opts);
  std::printf("%s\n", d.describe().c_str());

  // Model: a ResNet-18 backbone (CIFAR stem) inside MoCo v2 with the CIFAR-10
  // demo's sizes for small images: queue 4096, m 0.99, T 0.2, split BN 8.
  nn::manual_seed(0);
  train::ModelSpec spec;
  spec.width = width;
  spec.in_chans = d.channels;
  spec.img_size = d.size;
  spec.num_classes = 0;  // features only; MoCo attaches its MLP head
  contrastive::MoCoV2Config cfg = contrastive::MoCoV2Config::v2();
  cfg.K = 4096;
  cfg.m = 0.99;
  cfg.bn_splits = 8;
  auto model = std::make_shared<contrastive::MoCoV2>(train::make_backbone(spec), cfg);

  // Data pipeline: two augmented views of each image (MoCo v2's "aug-plus").
  data::PresetOptions po = train::preset_options(d);
  po.crop_min = 0.2;
  data::LoaderOptions lo;
  lo.batch_size = 64;  // small batches, many steps: what a CPU affords (main_moco.py: 256 on 8 GPUs)
  data::DataLoader loader(d.train, data::moco_v2(po), lo);
  const int64_t iters = loader.batches_per_epoch();
  MOCO_CHECK(iters > 0 && cfg.K % lo.batch_size == 0, "too few images for a batch of {}", lo.batch_size);

  // SGD with momentum 0.9, weight decay 5e-4, lr 0.06 on a per-epoch cosine (MoCo v2's --cos).
  optim::SGDConfig sc;
  sc.lr = 0.06;
  sc.momentum = 0.9;
  sc.weight_decay = 5e-4;
  optim::SGD opt({optim::make_group(model->named_parameters(), true)}, sc);

  std::printf("kNN top-1 before pretraining: %.2f%%\n", knn_top1(*model, d));
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    opt.set_lr(optim::cosine_lr(sc.lr, double(epoch), double(epochs)));
    loader.start_epoch(epoch);
    double loss_sum = 0, correct = 0, seen = 0;
    data::Batch b;
    while (loader.next(b)) {
      // q = f_q(view 1), k = f_k(view 2) with shuffle-BN; logits [q.k, q.queue] / T; label 0.
      contrastive::MoCoOutput out = model->forward_views(b.views[0], b.views[1]);
      opt.zero_grad();
      out.loss.backward();
      opt.step();  // the key encoder's momentum update and the enqueue happen inside forward_views
      const double n = double(b.views[0].size(0));
      loss_sum += out.loss.item() * n;
      correct += train::top1_correct(out.logits[0].detach(), out.labels[0]);
      seen += n;
    }
    std::printf("epoch %lld/%lld: loss %.4f, pretext top-1 %.2f%%\n", (long long)epoch + 1, (long long)epochs,
                loss_sum / seen, 100 * correct / seen);
  }
  std::printf("kNN top-1 after pretraining: %.2f%%\n", knn_top1(*model, d));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "train_moco_v2: %s\n", e.what());
  return 1;
}
