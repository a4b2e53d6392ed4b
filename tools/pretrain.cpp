#include "tools/pretrain.h"

#include "train/checkpoint_knn.h"
#include "train/pretrain_flags.h"

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "contrastive/contrastive.h"
#include "tools/progress.h"
#include "tools/run_plot.h"
#include "train/run_dir.h"
#include "train/run_report.h"
#include "train/stop_signal.h"

namespace moco::cli {

namespace {

// The flags of `moco pretrain` (the official scripts' names).
void add_pretrain_flags(Args& a) {
  add_data_flags(a, false);
  add_model_flags(a);
  a.opt("moco-version", "v2", "v1 | v2 | v3: the recipe the auto values follow")
      .opt("moco-dim", "auto", "feature dimension (v1/v2 128, v3 256)")
      .opt("moco-k", "auto", "v1/v2 queue size, a multiple of the batch (65536; 4096 for images <= 64 px)")
      .opt("moco-m", "auto", "key encoder momentum (v1/v2 0.999, 0.99 for images <= 64 px; v3 0.99, the start "
                             "of the cosine with --moco-m-cos)")
      .opt("moco-t", "auto", "softmax temperature (v1 0.07, 0.1 for images <= 64 px; v2 0.2; v3 ResNet 1.0, ViT 0.2)")
      .opt("moco-mlp-dim", "auto", "v3: hidden width of the projector and predictor (4096; 1024 for images <= 64 px)")
      .flag("mlp", "v1/v2: 2-layer MLP head (v2: on)")
      .flag("aug-plus", "v1/v2: MoCo v2's augmentation, with blur (v2: on)")
      .flag("cos", "v1/v2: cosine lr schedule instead of the step schedule (on for v2, and for v1 on images <= 64 px "
                   "as the CIFAR-10 demo); v3 always warms up then cosine")
      .flag("moco-m-cos", "v3: momentum rises from --moco-m to 1 on a cosine (v3: on)")
      .flag("symmetric", "v1/v2: symmetric loss ctr(q1,k2) + ctr(q2,k1) (CIFAR-10 demo)")
      .opt("bn-splits", "auto", "v1/v2: shuffle-BN groups (SplitBatchNorm) (1; 8 for images <= 64 px)")
      .opt("shuffle-bn", "1", "v1/v2: keys computed on a shuffled batch (1); 0: in the batch's own order, so BN "
                              "statistics can leak the positive (the paper's ablation)")
      .flag("sync-bn", "v3 under mpirun: every BatchNorm (backbone, projector, predictor, both encoders) with the "
                       "statistics of the global batch (SyncBatchNorm), as the official code always does; v1/v2 use "
                       "shuffle-BN instead")
      .flag("stop-grad-conv1", "v3 ViT: frozen random patch projection (v3 ViT: on)")
      .opt("optimizer", "auto", "sgd | lars | adamw (v1/v2 sgd; v3 ResNet lars, ViT adamw)")
      .opt("lr", "auto", "learning rate; v3: the base lr, used x batch/256 (v1/v2 0.03, 0.06 for images <= 64 px; "
                         "v3 lars 0.6, adamw 1.5e-4)")
      .opt("momentum", "0.9", "SGD / LARS momentum")
      .opt("wd", "auto", "weight decay (v1/v2 1e-4, 5e-4 for images <= 64 px; v3 lars 1e-6, adamw 0.1)")
      .opt("batch-size", "auto", "images per step (v1/v2 256, 512 for images <= 64 px; v3 4096, 256 for "
                                 "images <= 64 px)")
      .opt("epochs", "auto", "epochs (v1/v2 200; v3 ResNet 100, ViT 300)")
      .opt("schedule", "120,160", "v1/v2 without --cos: epochs at which the lr drops 10x")
      .opt("warmup-epochs", "auto", "v3: linear lr warm-up epochs (ResNet 10 of 100, ViT 40 of 300; proportionally "
                                    "fewer for shorter runs)")
      .opt("crop-min", "auto", "RandomResizedCrop's smallest scale (v1/v2 0.2, v3 0.08)")
      .opt("knn-every", "1", "kNN monitor (on the test split) every N epochs and after the last (0: off)")
      .opt("knn-k", "200", "kNN monitor: neighbours")
      .opt("knn-t", "0.1", "kNN monitor: temperature of the similarity weights")
      .opt("knn-bank", "0", "kNN monitor: train images in the memory bank (0: the whole train split)")
      .opt("knn-test", "0", "kNN monitor: test images classified (0: the whole test split)")
      .opt("recipe", "official",
           "official: the auto values of main_moco.py (and the CIFAR-10 demo's sizes for images <= 64 px) | "
           "cifar-demo: the CIFAR-10 demo notebook exactly (v1/v2 only): no MLP, T 0.1, its augmentation (crop "
           "0.08-1, flip, jitter p 0.8, grayscale 0.2, no blur), cosine lr counted from epoch 1, conv1 with "
           "PyTorch's default init, kNN on the head's output")
      .opt("knn-features", "backbone", "kNN monitor features: backbone (pooled, before the head) | head (the query "
                                       "encoder's output, as the CIFAR-10 demo)")
      .flag("knn-init", "also measure the kNN top-1 at random initialisation (knn_init.json)")
      .opt("log-every", "20",
           "every N steps append a row of MoCo's internals to steps.jsonl / steps.csv (0: off): loss, loss_chance "
           "(the loss of uniform logits), inst_top1, logit_pos_mean / logit_neg_mean / logit_neg_std / "
           "logit_neg_max (as cosine similarities, logit x T), encoder_drift (|theta_q - theta_k| / |theta_q|), "
           "feature_std (~1/sqrt(dim) healthy, -> 0 on collapse), alignment and uniformity (Wang & Isola, t 2), "
           "queue_age_mean and queue_sim_mean (v1/v2), lr, moco_m, grad_norm; epoch rows of metrics.jsonl get "
           "their means. plots.png is redrawn every epoch, report.md written at the end");
  a.alias("-b", "batch-size").alias("--learning-rate", "lr").alias("--weight-decay", "wd");
  add_run_flags(a, "runs/pretrain");
}

}  // namespace

int pretrain_command(const std::vector<std::string>& argv) {
  Args a("pretrain",
         "MoCo self-supervised pretraining (labels unused). --moco-version picks the recipe: v1 (fc head, queue), "
         "v2 (+ MLP head, stronger augmentation, cosine lr, T 0.2) or v3 (projector + predictor, no queue, "
         "symmetric loss, LARS/AdamW with warm-up, momentum cosine). Every 'auto' value follows the official "
         "recipe (main_moco.py of moco / moco-v3) and, for images of 64 px or less, the official CIFAR-10 demo; "
         "the resolved values are written to the run folder's config.json. Switches turned on by a preset are "
         "turned off with --name=0. A checkpoint is written every epoch; --resume continues the run.");
  add_pretrain_flags(a);
  if (!a.parse(argv)) return 0;

  DataSetup d;
  RunSetup run = setup_run(a, "pretrain", argv, [&](Flags& args) {
    for (const std::string& w : resolve_pretrain_flags(args, d)) std::printf("warning: %s\n", w.c_str());
  });
  // Recorded only when on: absent reads as off, so runs from before the flag compare equal.
  if (!a.on("sync-bn")) run.config.flags.erase("sync-bn"), run.config.switches.erase("sync-bn");
  const ModelSpec spec = pretrain_model_spec(a, d);
  run.check_resumed_model(spec);
  run.record_resolved(spec, d);
  const PretrainRecipe r = pretrain_recipe(a, d);
  const bool v3 = r.version == "v3";
  const int64_t epochs = r.epochs;
  // Query and key encoders, gradients, up to two optimiser states; two views.
  if (run.device.is_cpu()) check_model_fits(spec, 5, 2 * r.batch_size, "MoCo pretraining");

  MocoTrainer trainer(r, spec, d, run.device, run.seed);
  contrastive::MoCo& model = trainer.model();
  if (!v3 && 2 * r.K > d.train->size())
    std::printf("note: the queue (--moco-k %lld) holds more than half of the %lld training images, so an image's "
                "own earlier keys often serve as its negatives; a smaller --moco-k suits this data set\n",
                (long long)r.K, (long long)d.train->size());
  if (v3 && !r.sync_bn && world().size() > 1 && world().is_writer())
    std::printf("note: without --sync-bn each rank's BatchNorm normalises its own slice of the batch; the official "
                "MoCo v3 code always uses SyncBatchNorm under DDP\n");
  std::printf("moco pretrain: MoCo %s, %s\n  data: %s\n  %s\n  %lld trainable parameters; run folder %s\n",
              model.version().c_str(), spec.describe().c_str(), d.describe().c_str(), d.sources().c_str(),
              (long long)model.num_parameters(true), run.out.c_str());

  RunDir& dir = begin_run(run, d, trainer);
  TrainingHooks hooks = progress_hooks();
  if (run.resume_from.empty() && r.knn_every > 0 && a.on("knn-init") && world().is_writer()) {
    const double k0 = trainer.knn(hooks);
    std::printf("kNN top-1 at random initialisation: %.2f%%\n", k0);
    write_file_atomic(dir.file("knn_init.json"), fmt::format("{{\"knn_top1\": {}}}\n", k0));
  }

  bool plot_failed = false;
  hooks.epoch_done = [&](const MetricsRow& row) {
    auto v = [&](const char* k) { return find_value(row, k).value_or(0); };
    const std::optional<double> knn = find_value(row, "knn_top1");
    std::printf("pretrain epoch %lld/%lld: loss %.4f, instance top-1 %.2f%%%s | lr %.4g, m %.5f | %s, %.0f img/s\n",
                (long long)v("epoch"), (long long)epochs, v("loss"), v("inst_top1"),
                knn ? fmt::format(", kNN top-1 {:.2f}%", *knn).c_str() : "", v("lr"), v("moco_m"),
                fmt_duration(v("epoch_sec")).c_str(), v("images_per_sec"));
    std::fflush(stdout);
    if (plot_failed || !world().is_writer()) return;
    try {
      plot_runs({dir.path()}, dir.file("plots.png"));
    } catch (const std::exception& e) {  // a missing gnuplot must not stop the training
      plot_failed = true;
      std::printf("note: plots.png not drawn: %s\n", e.what());
    }
  };
  const int64_t end_epoch = last_epoch(a, trainer.start_epoch(), epochs);
  const RunEnd end = trainer.run(dir, end_epoch, hooks);
  if (end.stopped) return stopped_run("pretrain", dir.path(), end);
  if (world().is_writer()) write_pretrain_report(dir.path(), end_epoch, epochs, plot_failed ? "" : "plots.png");
  std::printf("moco pretrain: done%s; checkpoint %s\n",
              trainer.last_knn() >= 0 ? fmt::format(", kNN top-1 {:.2f}%", trainer.last_knn()).c_str() : "",
              dir.file("checkpoint.safetensors").c_str());
  return 0;
}

// ------------------------------------------------------------------ knn

int knn_command(const std::vector<std::string>& argv) {
  Args a("knn",
         "kNN top-1 of a checkpoint's backbone features (the MoCo CIFAR-10 demo's monitor: cosine similarity, "
         "k nearest neighbours of the train split vote with weights exp(sim/T)) on the test split.");
  a.opt("pretrained", "", "run folder or checkpoint (pretrain, train, finetune, linear; or a plain state dict with "
                          "--arch)");
  add_data_flags(a, true);
  add_model_flags(a);
  a.opt("knn-k", "200", "neighbours")
      .opt("knn-t", "0.1", "temperature of the similarity weights")
      .opt("knn-bank", "0", "train images in the memory bank (0: all; after --label-fraction)")
      .opt("knn-test", "0", "test images classified (0: all)")
      .opt("batch-size", "256", "images per forward pass")
      .opt("seed", "0", "seed of the subsets")
      .opt("threads", "0", "CPU threads (0: OMP_NUM_THREADS or all cores)")
      .opt("device", "cpu", "cpu | cuda (cuda:N)")
      .flag("json", "print one JSON line");
  if (!a.parse(argv)) return 0;
  const CheckpointKnn r = checkpoint_knn(a, progress_hooks());
  if (a.on("json"))
    std::printf("%s\n", nlohmann::ordered_json{{"checkpoint", r.checkpoint},
                                               {"knn_top1", round_to_decimals(r.top1, 4)},
                                               {"k", r.k},
                                               {"t", r.t},
                                               {"dataset", r.data.spec}}
                            .dump()
                            .c_str());
  else
    std::printf("%s\n  %s\n  data: %s\nkNN top-1: %.2f%% (k %lld, T %g)\n", r.checkpoint.c_str(),
                r.spec.describe().c_str(), r.data.describe().c_str(), r.top1, (long long)r.k, r.t);
  return 0;
}

}  // namespace moco::cli
