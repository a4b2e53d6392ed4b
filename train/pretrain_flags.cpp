#include "train/pretrain_flags.h"

#include <fmt/format.h>

#include <utility>

#include "tensor/error.h"
#include "train/run_flags.h"

namespace moco::train {

std::vector<std::string> resolve_pretrain_flags(Flags& args, DataSetup& d) {
  const std::string v = args.str("moco-version");
  MOCO_CHECK(v == "v1" || v == "v2" || v == "v3", "--moco-version must be v1, v2 or v3, got '{}'", v);
  d = open_data(args, args.real("data-fraction", 0, 1), uint64_t(args.integer("seed", 0)),
                args.integer("knn-every", 0) > 0);
  const bool small = d.size <= 64, vit = args.str("arch").rfind("vit", 0) == 0, v3 = v == "v3";
  const std::string recipe = args.str("recipe");
  MOCO_USAGE_CHECK(recipe == "official" || recipe == "cifar-demo", "--recipe must be official or cifar-demo, got '{}'",
                   recipe);
  const bool demo = recipe == "cifar-demo";
  MOCO_USAGE_CHECK(!demo || !v3, "--recipe cifar-demo is a MoCo v1/v2 recipe (a queue, one loss); got --moco-version v3");
  // A flag the recipe does not read is said so, not silently dropped. A
  // resumed run's own values come back as given ones only if typed again.
  const std::vector<std::pair<const char*, const char*>> unused =
      v3 ? std::vector<std::pair<const char*, const char*>>{{"moco-k", "MoCo v3 has no queue: the negatives are "
                                                                       "the batch's other images"},
                                                            {"mlp", "MoCo v3 always has its projector"},
                                                            {"aug-plus", "MoCo v3 has its own augmentation"},
                                                            {"symmetric", "MoCo v3's loss is always symmetric"},
                                                            {"bn-splits", "MoCo v3 has no shuffle-BN"},
                                                            {"shuffle-bn", "MoCo v3 has no shuffle-BN"},
                                                            {"cos", "MoCo v3 always warms up, then cosine"},
                                                            {"schedule", "MoCo v3 always warms up, then cosine"}}
         : std::vector<std::pair<const char*, const char*>>{
               {"moco-mlp-dim", "the v1/v2 MLP head is as wide as the backbone's features"},
               {"moco-m-cos", "v1/v2 keep the momentum fixed"},
               {"warmup-epochs", "v1/v2 have no warm-up"},
               {"stop-grad-conv1", "only MoCo v3's ViT freezes its patch projection"}};
  std::vector<std::string> warnings;
  for (auto& [flag, why] : unused)
    if (args.given(flag)) warnings.push_back(fmt::format("--{} is ignored by --moco-version {} ({})", flag, v, why));
  if (v3 && !vit && args.given("stop-grad-conv1"))
    warnings.push_back("--stop-grad-conv1 is ignored by a ResNet (only the ViT has a patch projection)");
  // Every "auto" value and preset switch from the library's recipe.
  const PretrainRecipe rec = moco_recipe(v, d.size, vit, demo);
  auto num = [](double x) { return fmt::format("{}", x); };
  auto def = [&](const char* name, const std::string& value) {
    if (args.str(name) == "auto") args.set(name, value);
  };
  // A resumed (or --config) run's switches come back from its config.json as
  // it resolved them: a preset must not turn on again what the run turned off (--mlp=0).
  auto on = [&](const char* name, bool value) {
    if (!args.given(name) && !args.from_run(name) && value) args.set(name, "1");
  };
  on("mlp", rec.mlp);
  on("aug-plus", rec.aug_plus);
  on("cos", !v3 && rec.lr.schedule.kind == optim::LrSchedule::Kind::cosine);
  if (rec.knn_head_features && !args.given("knn-features") && !args.from_run("knn-features"))
    args.set("knn-features", "head");
  on("moco-m-cos", rec.m_cos);
  on("stop-grad-conv1", v3 && vit);
  def("moco-dim", std::to_string(rec.dim));
  def("moco-k", std::to_string(v3 ? (small ? 4096 : 65536) : rec.K));  // recorded, unused by v3
  def("moco-m", num(rec.m));
  def("moco-t", num(rec.T));
  def("moco-mlp-dim", std::to_string(rec.mlp_dim));
  def("bn-splits", std::to_string(rec.bn_splits));
  def("optimizer", rec.optimizer.kind);
  const std::string opt = args.str("optimizer");
  MOCO_USAGE_CHECK(opt == "sgd" || opt == "lars" || opt == "adamw", "--optimizer must be sgd, lars or adamw, got '{}'",
                   opt);
  const OptimizerChoice oc = v3 ? v3_optimizer(opt) : rec.optimizer;
  def("lr", num(v3 ? oc.lr : rec.base_lr));
  def("wd", num(oc.weight_decay));
  def("batch-size", std::to_string(rec.batch_size));
  def("epochs", std::to_string(rec.epochs));
  if (args.str("warmup-epochs") == "auto")
    args.set("warmup-epochs", v3 ? num(v3_warmup_epochs(vit, args.integer("epochs", 1))) : "0");
  def("crop-min", num(rec.crop_min));
  return warnings;
}

ModelSpec pretrain_model_spec(const Flags& a, const DataSetup& d) {
  const bool v3 = a.str("moco-version") == "v3";
  ModelSpec spec = model_spec(a, d.size, d.channels, 0);
  spec.stop_grad_conv1 = spec.is_vit() && a.on("stop-grad-conv1");
  spec.zero_init_residual = v3 && !spec.is_vit();  // moco-v3 builds its ResNets with zero_init_residual=True
  spec.stem_default_init = a.str("recipe") == "cifar-demo" && !spec.is_vit() && spec.small_stem;
  return spec;
}

PretrainRecipe pretrain_recipe(const Flags& a, const DataSetup& d) {
  const std::string version = a.str("moco-version");
  const int64_t epochs = a.integer("epochs", 1, 1000000), B = a.integer("batch-size", 1, 1 << 24);
  const double base_lr = a.real("lr", 0), wd = a.real("wd", 0), warmup = a.real("warmup-epochs", 0);
  const double lr = version == "v3" ? base_lr * double(B) / 256 : base_lr;  // moco-v3's lr is per 256 images
  MOCO_CHECK(version != "v3" || warmup < double(epochs), "--warmup-epochs {} must be less than --epochs {}", warmup,
             epochs);
  MOCO_CHECK(d.train->size() >= B, "--batch-size {} is larger than the {} training images", B, d.train->size());
  const bool v3 = version == "v3", demo = a.str("recipe") == "cifar-demo";
  PretrainRecipe r;
  r.version = version;
  r.cifar_demo = demo;
  r.dim = a.integer("moco-dim", 1);
  r.K = v3 ? 0 : a.integer("moco-k", 1);
  r.m = a.real("moco-m", 0, 1);
  r.T = a.real("moco-t", 1e-6);
  r.mlp_dim = a.integer("moco-mlp-dim", 1);
  r.mlp = !v3 && a.on("mlp");
  r.aug_plus = !v3 && a.on("aug-plus");
  r.symmetric = !v3 && a.on("symmetric");
  r.m_cos = v3 && a.on("moco-m-cos");
  r.bn_splits = a.integer("bn-splits", 1, 1 << 20);
  r.shuffle_bn = a.integer("shuffle-bn", 0, 1) == 1;
  r.sync_bn = a.on("sync-bn");
  r.epochs = epochs;
  r.batch_size = B;
  r.optimizer = {a.str("optimizer"), lr, a.real("momentum", 0, 1), wd};
  // v3 per iteration; main_moco.py counts epochs from 0, the demo from 1 (its last epoch runs at lr 0).
  r.lr = v3 ? LrPlan::warmup_cosine(lr, double(epochs), warmup)
            : LrPlan::per_epoch(lr, double(epochs), a.on("cos"), milestones(a), demo ? 1 : 0);
  r.crop_min = a.real("crop-min", 0, 1);
  r.knn_every = a.integer("knn-every", 0);
  r.knn_k = a.integer("knn-k", 1);
  r.knn_t = a.real("knn-t", 1e-9);
  r.knn_bank = a.integer("knn-bank", 0);
  r.knn_test = a.integer("knn-test", 0);
  const std::string knn_feat = a.str("knn-features");
  MOCO_USAGE_CHECK(knn_feat == "backbone" || knn_feat == "head", "--knn-features must be backbone or head, got '{}'",
                   knn_feat);
  r.knn_head_features = knn_feat == "head";
  r.classes = a.str("classes");
  r.log_every = a.integer("log-every", 0);
  r.check_sync_every = a.integer("check-sync-every", 0);
  return r;
}

}  // namespace moco::train
