// The training library's recipes hold the official values (main_moco.py of
// moco and moco-v3, the CIFAR-10 demo, main_lincls.py), every one resolved;
// one optimiser factory and one lr mechanism serve every recipe.
#include <doctest/doctest.h>

#include <cmath>

#include "nn/linear.h"
#include "optim/optim.h"
#include "train/pretrain.h"
#include "train/supervised.h"

using namespace moco;
using namespace moco::train;

TEST_CASE("MoCo v1 / v2 recipes: main_moco.py on ImageNet-sized images, the CIFAR-10 demo's sizes on small ones") {
  const PretrainRecipe v1 = moco_v1_recipe(224), v2 = moco_v2_recipe(224), v2s = moco_v2_recipe(32);
  CHECK(v1.K == 65536);
  CHECK(v1.m == 0.999);
  CHECK(v1.T == 0.07);
  CHECK_FALSE(v1.mlp);
  CHECK_FALSE(v1.aug_plus);
  CHECK(v1.lr.schedule.kind == optim::LrSchedule::Kind::step);
  CHECK(v1.lr.schedule.milestones == std::vector<double>{120, 160});
  CHECK(v1.optimizer.kind == "sgd");
  CHECK(v1.optimizer.lr == 0.03);
  CHECK(v1.optimizer.weight_decay == 1e-4);
  CHECK(v1.batch_size == 256);
  CHECK(v1.epochs == 200);
  CHECK(v2.T == 0.2);
  CHECK(v2.mlp);
  CHECK(v2.aug_plus);
  CHECK(v2.lr.schedule.kind == optim::LrSchedule::Kind::cosine);
  CHECK(v2.crop_min == 0.2);
  CHECK(v2s.K == 4096);
  CHECK(v2s.m == 0.99);
  CHECK(v2s.bn_splits == 8);
  CHECK(v2s.batch_size == 512);
  CHECK(v2s.optimizer.lr == 0.06);
  CHECK(v2s.optimizer.weight_decay == 5e-4);
  CHECK(moco_v1_recipe(32).lr.schedule.kind == optim::LrSchedule::Kind::cosine);  // as the demo's v1
  CHECK(moco_v2_recipe(32, 7).epochs == 7);
}

TEST_CASE("MoCo v3 recipes: LARS for ResNets, AdamW for ViTs, lr x batch/256, warm-up scaled with the epochs") {
  const PretrainRecipe r = moco_v3_recipe(224, false), v = moco_v3_recipe(224, true), vs = moco_v3_recipe(32, true, 30);
  CHECK(r.optimizer.kind == "lars");
  CHECK(r.base_lr == 0.6);
  CHECK(r.optimizer.lr == 0.6 * 4096 / 256);
  CHECK(r.optimizer.weight_decay == 1e-6);
  CHECK(r.T == 1.0);
  CHECK(r.epochs == 100);
  CHECK(r.lr.schedule.warmup_epochs == 10);
  CHECK(r.lr.per_iteration);
  CHECK(r.m_cos);
  CHECK(r.dim == 256);
  CHECK(r.mlp_dim == 4096);
  CHECK(v.optimizer.kind == "adamw");
  CHECK(v.base_lr == 1.5e-4);
  CHECK(v.optimizer.weight_decay == 0.1);
  CHECK(v.T == 0.2);
  CHECK(v.epochs == 300);
  CHECK(v.lr.schedule.warmup_epochs == 40);
  CHECK(vs.batch_size == 256);
  CHECK(vs.mlp_dim == 1024);
  CHECK(vs.lr.schedule.warmup_epochs == 4);  // 40 x 30 / 300
  CHECK(v3_warmup_epochs(false, 25) == 2);   // floor(10 x 25 / 100)
}

TEST_CASE("the CIFAR-10 demo recipe, and recipes that do not exist") {
  const PretrainRecipe d = cifar_demo_recipe("v2");
  CHECK(d.cifar_demo);
  CHECK_FALSE(d.mlp);
  CHECK(d.T == 0.1);
  CHECK(d.K == 4096);
  CHECK(d.crop_min == 0.08);
  CHECK(d.lr.epoch_offset == 1);
  CHECK(d.knn_head_features);
  CHECK(d.lr.at(1, 0, 10) == d.optimizer.lr * (1 + std::cos(M_PI * 2 / 200)) / 2);  // epoch 2 of the notebook
  CHECK_THROWS_AS(cifar_demo_recipe("v3"), UsageError);
  CHECK_THROWS_AS(moco_recipe("v4", 32, false), UsageError);
}

TEST_CASE("supervised recipes: train / finetune by backbone, linear as main_lincls.py") {
  const SupervisedRecipe res = supervised_recipe(SupervisedMode::train, 32, false, 128, 100);
  CHECK(res.optimizer.kind == "sgd");
  CHECK(res.optimizer.lr == 0.1 * 128 / 256);
  CHECK(res.optimizer.weight_decay == 5e-4);
  CHECK(res.lr.schedule.kind == optim::LrSchedule::Kind::cosine);
  CHECK(res.crop_min == 0.8);
  const SupervisedRecipe vit = supervised_recipe(SupervisedMode::finetune, 224, true, 512, 30);
  CHECK(vit.optimizer.kind == "adamw");
  CHECK(vit.optimizer.lr == 5e-4);
  CHECK(vit.optimizer.weight_decay == 0.05);
  CHECK(vit.lr.schedule.warmup_epochs == 3);  // min(5, 30 / 10)
  CHECK(vit.lr.per_iteration);
  CHECK(vit.crop_min == 0.08);
  const SupervisedRecipe lin = supervised_recipe(SupervisedMode::linear, 32, false, 256, 100);
  CHECK(lin.optimizer.lr == 30);
  CHECK(lin.optimizer.weight_decay == 0);
  CHECK(lin.lr.schedule.milestones == std::vector<double>{60, 80});
  CHECK(lin.lr.at(60, 0, 5) == doctest::Approx(3.0));
  CHECK_THROWS_AS(supervised_recipe(SupervisedMode::train, 32, false, 64, 10, "adam"), UsageError);
}

TEST_CASE("one optimiser factory; one lr mechanism, per epoch or per iteration") {
  nn::Linear lin(3, 2);
  for (const char* kind : {"sgd", "lars", "adamw"}) {
    auto opt = make_optimizer({kind, 0.5, 0.9, 0.01}, lin.named_parameters());
    CHECK(opt->lr() == 0.5);
  }
  CHECK_THROWS_WITH_AS(make_optimizer({"adam", 0.5, 0.9, 0}, lin.named_parameters()),
                       "--optimizer must be sgd, lars or adamw, got 'adam'", UsageError);
  lin.requires_grad_(false);
  CHECK_THROWS_AS(make_optimizer({"sgd", 0.5, 0.9, 0}, lin.named_parameters()), UsageError);
  LrPlan p;
  p.schedule.kind = optim::LrSchedule::Kind::warmup_cosine;
  p.schedule.base_lr = 1;
  p.schedule.epochs = 10;
  p.schedule.warmup_epochs = 2;
  p.per_iteration = true;
  CHECK(p.at(1, 5, 10) == optim::warmup_cosine_lr(1, 1.5, 2, 10));
  p.per_iteration = false;
  p.schedule.kind = optim::LrSchedule::Kind::cosine;
  CHECK(p.at(3, 7, 10) == optim::cosine_lr(1, 3, 10));  // the whole epoch at its start's lr
}
