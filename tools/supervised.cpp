#include "tools/supervised.h"

#include "train/supervised_flags.h"

#include <cstdio>

#include "tools/progress.h"
#include "train/stop_signal.h"

namespace moco::cli {

namespace {

const char* mode_description(SupervisedMode m) {
  switch (m) {
    case SupervisedMode::train:
      return "Supervised training from scratch (cross-entropy, RandomResizedCrop + flip), evaluated on the test split "
             "every epoch. The baseline of the seed study.";
    case SupervisedMode::linear:
      return "Linear classification on frozen features (main_lincls.py): the pretrained backbone is frozen with its "
             "BatchNorm in evaluation mode and only a new fc layer (weights N(0, 0.01), bias 0) is trained; defaults "
             "are the MoCo v1/v2 recipe (lr 30, no weight decay, step schedule at epochs 60 and 80 of 100).";
    case SupervisedMode::finetune:
      return "End-to-end fine-tuning from a pretrained backbone (a `moco pretrain` run or checkpoint, or any of our "
             "checkpoints): a new classification head, every weight trained.";
  }
  return "";
}

}  // namespace

int supervised_command(SupervisedMode mode, const std::vector<std::string>& argv) {
  const std::string name = mode_name(mode);
  const bool linear = mode == SupervisedMode::linear, from_pretrained = mode != SupervisedMode::train;
  Args a(name, mode_description(mode));
  if (from_pretrained)
    a.opt("pretrained", "", "the pretrained run folder or checkpoint (moco pretrain; also train/finetune runs and "
                            "plain torchvision/timm or official MoCo state dicts); its --arch and sizes are used");
  add_data_flags(a, true);
  add_model_flags(a);
  a.opt("epochs", "100", "epochs")
      .opt("batch-size", "256", "images per step")
      .opt("optimizer", linear ? "sgd" : "auto", "sgd | adamw | lars (auto: sgd for ResNets, adamw for ViTs)")
      .opt("lr", linear ? "30" : "auto",
           linear ? "learning rate (main_lincls.py: 30)"
                  : "learning rate (auto: sgd 0.1 x batch/256, adamw 5e-4 x batch/512, lars 0.1 x batch/256)")
      .opt("momentum", "0.9", "SGD / LARS momentum")
      .opt("wd", linear ? "0" : "auto",
           linear ? "weight decay (main_lincls.py: 0)" : "weight decay (auto: sgd 5e-4, adamw 0.05, lars 1e-6)")
      .opt("schedule", linear ? "60,80" : "", "epochs at which the lr drops 10x (step schedule, unless --cos)")
      .flag("cos", linear ? "cosine lr schedule instead of the step schedule"
                          : "cosine lr schedule (on by default unless --schedule is given)")
      .opt("warmup-epochs", linear ? "0" : "auto", "linear lr warm-up epochs, then per-iteration cosine (auto: "
                                                   "ViT 5 but at most epochs/10, ResNet 0)")
      .opt("crop-min", "auto", "RandomResizedCrop's smallest scale (auto: 0.08 as main_lincls.py; 0.8 for "
                               "images of 64 px or less, close to CIFAR's pad-and-crop)")
      .opt("eval-batch-size", "256", "images per evaluation step")
      .flag("sync-bn", linear ? "SyncBatchNorm (no effect here: the linear probe's BatchNorm is frozen)"
                              : "under mpirun, BatchNorm with the statistics of the global batch (SyncBatchNorm, "
                                "as MoCo v3 trains); in one process, plain BatchNorm")
      .opt("val-samples", "0", "evaluate on a stratified, seeded subset of this many test images (0: all)");
  a.alias("-b", "batch-size").alias("--learning-rate", "lr").alias("--weight-decay", "wd");
  add_run_flags(a, "runs/" + name);
  if (!a.parse(argv)) return 0;

  // --pretrained (or the resumed run's) decides the architecture.
  Pretrained pre;
  DataSetup d;
  RunSetup run = setup_run(a, name, argv, [&](Flags& args) {
    if (const std::string note = resolve_supervised_flags(mode, args, pre, d); !note.empty())
      std::printf("note: %s\n", note.c_str());
  });
  ModelSpec spec = model_spec(a, d.size, d.channels, int64_t(d.classes.size()));
  run.check_resumed_model(spec);
  run.record_resolved(spec, d);
  const SupervisedRecipe recipe = supervised_recipe(mode, a);
  const int64_t epochs = recipe.epochs;
  if (run.device.is_cpu()) check_model_fits(spec, 4, recipe.batch_size, "training");  // weights, gradients, two optimiser states

  std::printf("moco %s: %s\n  data: %s\n  %s\n  run folder: %s\n", name.c_str(), spec.describe().c_str(),
              d.describe().c_str(), d.sources().c_str(), run.out.c_str());

  const bool load_pre = from_pretrained && run.resume_from.empty();
  SupervisedTrainer trainer(recipe, spec, d, run.device, run.seed, load_pre ? &pre : nullptr);
  if (load_pre)
    std::printf("  loaded the pretrained backbone from %s (%zu tensors)\n", pre.path.c_str(), pre.backbone.size());
  RunDir& dir = begin_run(run, d, trainer);
  TrainingHooks hooks = progress_hooks();
  hooks.epoch_done = [&](const MetricsRow& row) {
    auto v = [&](const char* k) { return find_value(row, k).value_or(0); };
    std::printf("%s epoch %lld/%lld: train loss %.4f top-1 %.2f%% | val loss %.4f top-1 %.2f%% (best %.2f%%) | lr "
                "%.4g | %s, %.0f img/s\n",
                name.c_str(), (long long)v("epoch"), (long long)epochs, v("train_loss"), v("train_top1"),
                v("val_loss"), v("val_top1"), v("best_val_top1"), v("lr"), fmt_duration(v("epoch_sec")).c_str(),
                v("images_per_sec"));
    std::fflush(stdout);
  };
  const RunEnd end = trainer.run(dir, last_epoch(a, trainer.start_epoch(), epochs), hooks);
  if (end.stopped) return stopped_run(name, dir.path(), end);
  if (linear) {
    trainer.check_backbone_unchanged();
    std::printf("linear: sanity check passed (the frozen backbone is unchanged)\n");
  }
  std::printf("moco %s: best val top-1 %.2f%%; run folder %s\n", name.c_str(), trainer.best_top1(), dir.path().c_str());
  return 0;
}

}  // namespace moco::cli
