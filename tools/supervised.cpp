#include "tools/supervised.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "data/loader.h"
#include "data/transforms.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "nn/state_dict.h"
#include "optim/optim.h"
#include "tools/progress.h"
#include "train/stop_signal.h"

namespace moco::cli {

namespace {

const char* mode_name(SupervisedMode m) {
  switch (m) {
    case SupervisedMode::train: return "train";
    case SupervisedMode::linear: return "linear";
    case SupervisedMode::finetune: return "finetune";
  }
  return "?";
}

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

EvalResult evaluate_classifier(nn::Module& model, const data::DatasetPtr& ds, const DataSetup& d, Device device,
                               int64_t batch_size) {
  data::PresetOptions po;
  po.size = d.size;
  po.channels = d.channels;
  po.mean = d.norm.mean;
  po.std = d.norm.std;
  data::LoaderOptions lo;
  lo.batch_size = batch_size;
  lo.shuffle = false;
  lo.drop_last = false;
  lo.num_workers = d.workers;
  data::DataLoader loader(ds, data::eval_transform(po), lo);
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  EvalResult r;
  double loss_sum = 0, correct = 0;
  loader.start_epoch(0);
  data::Batch b;
  while (loader.next(b)) {
    Tensor x = to_device(b.views[0], device), y = to_device(b.labels, device);
    Tensor logits = model(x);
    const int64_t n = x.size(0);
    loss_sum += cross_entropy(logits, y).item() * double(n);
    correct += top1_correct(logits, y);
    r.n += n;
  }
  model.train(was_training);
  r.loss = r.n ? loss_sum / double(r.n) : 0;
  r.top1 = r.n ? 100.0 * correct / double(r.n) : 0;
  return r;
}

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
      .opt("val-samples", "0", "evaluate on a stratified, seeded subset of this many test images (0: all)");
  a.alias("-b", "batch-size").alias("--learning-rate", "lr").alias("--weight-decay", "wd");
  add_run_flags(a, "runs/" + name);
  if (!a.parse(argv)) return 0;

  // --pretrained (or the resumed run's) decides the architecture.
  Pretrained pre;
  DataSetup d;
  auto resolve = [&](Args& args) {
    const bool resuming = !args.str("resume").empty();
    if (from_pretrained && !resuming) {  // a resumed run has its weights and flags already
      MOCO_CHECK(!args.str("pretrained").empty(), "moco {} needs --pretrained RUN_OR_CHECKPOINT", name);
      pre = load_pretrained(args.str("pretrained"));
      adopt_model_flags(args, pre);
    }
    d = open_data(args, args.real("label-fraction", 0, 1), uint64_t(args.integer("seed", 0)));
    const int64_t nval = args.integer("val-samples", 0);
    if (nval > 0 && nval < d.val->size())
      d.val = data::subset_by_fraction(d.val, double(nval) / double(d.val->size()), uint64_t(args.integer("seed", 0)));
    if (args.str("crop-min") == "auto") args.set("crop-min", d.size <= 64 ? "0.8" : "0.08");
    const bool vit = args.str("arch").rfind("vit", 0) == 0;
    // Clamped before the lr is scaled from it: the lr must follow the batch
    // the optimiser sees, not the one asked for.
    if (args.integer("batch-size", 1, 1 << 24) > d.train->size()) {
      std::printf("note: --batch-size %lld is larger than the %lld training images; using batches of %lld%s\n",
                  (long long)args.integer("batch-size", 1), (long long)d.train->size(), (long long)d.train->size(),
                  args.str("lr") == "auto" ? " (and the lr for that batch)" : "");
      args.set("batch-size", std::to_string(d.train->size()));
    }
    const double B = double(args.integer("batch-size", 1));
    if (args.str("optimizer") == "auto") args.set("optimizer", vit ? "adamw" : "sgd");
    const std::string opt = args.str("optimizer");
    MOCO_CHECK(opt == "sgd" || opt == "adamw" || opt == "lars", "--optimizer must be sgd, adamw or lars, got '{}'",
               opt);
    if (args.str("lr") == "auto")
      args.set("lr", fmt::format("{:g}", opt == "adamw" ? 5e-4 * B / 512 : 0.1 * B / 256));
    if (args.str("wd") == "auto") args.set("wd", opt == "adamw" ? "0.05" : opt == "lars" ? "1e-6" : "5e-4");
    if (args.str("warmup-epochs") == "auto")  // DeiT's 5; at most a tenth of the epochs
      args.set("warmup-epochs", vit ? std::to_string(std::min<int64_t>(5, args.integer("epochs", 1) / 10)) : "0");
    if (!linear && !args.given("cos") && args.str("schedule").empty()) args.set("cos", "1");
  };
  RunSetup run = setup_run(a, name, argv, resolve);
  const uint64_t seed = run.seed;
  ModelSpec spec = model_spec(a, d.size, d.channels, int64_t(d.classes.size()));
  run.check_resumed_model(spec);
  run.record_resolved(spec, d);
  const int64_t epochs = a.integer("epochs", 1, 1000000), B = a.integer("batch-size", 1, 1 << 24);
  const double lr = a.real("lr", 0), wd = a.real("wd", 0), warmup = a.real("warmup-epochs", 0);
  const std::string ckpt_path = run.file("checkpoint.safetensors");
  MOCO_CHECK(warmup < double(epochs), "--warmup-epochs {} must be less than --epochs {}", warmup, epochs);
  if (run.device.is_cpu()) check_model_fits(spec, 4, B, "training");  // weights, gradients, two optimiser states

  std::printf("moco %s: %s\n  data: %s\n  %s\n  run folder: %s\n", name.c_str(), spec.describe().c_str(),
              d.describe().c_str(), d.sources().c_str(), run.out.c_str());

  nn::manual_seed(seed);
  std::shared_ptr<nn::Module> model = make_backbone(spec);
  const std::string head = spec.head();
  if (from_pretrained && run.resume_from.empty()) {
    // Every backbone tensor must be there; the head is new.
    nn::NamedTensors targets;
    for (auto& [n, t] : model->state_dict())
      if (n.rfind(head + ".", 0) != 0) targets.emplace_back(n, t);
    nn::load_into(targets, pre.backbone, true, "--pretrained " + pre.path);
    std::printf("  loaded the pretrained backbone from %s (%zu tensors)\n", pre.path.c_str(), pre.backbone.size());
  }
  if (linear) {
    // main_lincls.py: freeze all but fc; init fc with N(0, 0.01), bias 0.
    model->requires_grad_(false);
    nn::Module& fc = model->child(head);
    fc.requires_grad_(true);
    for (auto& [n, t] : fc.named_parameters()) {
      if (n == "weight") nn::init::normal_(t, 0, 0.01);
      else nn::init::zeros_(t);
    }
  }
  model->to(run.device);

  OptimizerChoice oc;
  oc.kind = a.str("optimizer");
  oc.lr = lr;
  oc.momentum = a.real("momentum", 0, 1);
  oc.weight_decay = wd;
  std::unique_ptr<optim::Optimizer> opt = make_optimizer(oc, model->named_parameters());
  LrPlan lr_plan;
  lr_plan.schedule.base_lr = lr;
  lr_plan.schedule.epochs = double(epochs);
  lr_plan.schedule.warmup_epochs = warmup;
  lr_plan.per_iteration = warmup > 0;
  if (lr_plan.per_iteration) {
    lr_plan.schedule.kind = optim::LrSchedule::Kind::warmup_cosine;
  } else if (a.on("cos")) {
    lr_plan.schedule.kind = optim::LrSchedule::Kind::cosine;
  } else {
    lr_plan.schedule.kind = optim::LrSchedule::Kind::step;
    for (int64_t m : a.int_list("schedule")) lr_plan.schedule.milestones.push_back(double(m));
  }

  // Resume.
  int64_t start_epoch = 0;
  double best = 0;
  std::map<std::string, std::string> resumed_meta;
  if (!run.resume_from.empty()) {
    Checkpoint c = load_checkpoint(run.resume_from);
    model->load_state_dict(c.model, true);
    opt->load_state_dict(c.optimizer);
    start_epoch = c.epoch();
    resumed_meta = c.meta;
  }
  RunDir& dir = run.open();
  if (const std::string f = d.write_skipped(dir); !f.empty())
    std::printf("  %zu unreadable images left out (--skip-bad-images): listed in %s\n", d.skipped_images.size(),
                f.c_str());
  if (!run.resume_from.empty()) {
    dir.truncate_metrics(size_t(start_epoch));  // rows past the checkpoint go
    for (auto& row : dir.read_metrics())
      for (auto& [k, v] : row)
        if (k == "val_top1") best = std::max(best, v);
    print_resumed(run.resume_from, start_epoch, resumed_meta);
  }

  nn::NamedTensors frozen_before;  // the sanity check of main_lincls.py
  if (linear)
    for (auto& [n, t] : model->state_dict())
      if (n.rfind(head + ".", 0) != 0 && is_floating(t.dtype())) frozen_before.emplace_back(n, t.clone());

  data::PresetOptions po;
  po.size = d.size;
  po.channels = d.channels;
  po.mean = d.norm.mean;
  po.std = d.norm.std;
  po.crop_min = a.real("crop-min", 0, 1);
  data::LoaderOptions lo;
  lo.batch_size = B;
  lo.num_workers = d.workers;
  lo.seed = seed;
  data::DataLoader loader(d.train, data::linear_train(po), lo);
  const int64_t iters = loader.batches_per_epoch();
  const PartialEpoch resumed = PartialEpoch::from_meta(resumed_meta, iters);  // a run stopped mid-epoch
  auto checkpoint_after = [&](int64_t epochs_done, const PartialEpoch& part, double val_top1) {
    Checkpoint c;
    c.model = model->state_dict();
    c.optimizer = opt->state_dict();
    c.meta = spec.to_meta();
    c.meta["kind"] = "supervised";
    c.meta["command"] = name;
    c.meta["epoch"] = std::to_string(epochs_done);
    c.meta["epochs"] = std::to_string(epochs);
    if (val_top1 >= 0) c.meta["val_top1"] = fmt::format("{:.4f}", val_top1);
    c.meta["dataset"] = d.spec;
    c.meta["seed"] = std::to_string(seed);  // with the epoch: the data order and augmentations to come
    part.to_meta(c.meta);
    save_checkpoint(ckpt_path, c);
  };

  StopSignals stop;
  const int64_t end_epoch = last_epoch(a, start_epoch, epochs);
  for (int64_t epoch = start_epoch; epoch < end_epoch; ++epoch) {
    if (linear) model->eval();  // BN frozen: running statistics used, not updated
    else model->train();
    const bool part_way = epoch == start_epoch && resumed.step > 0;
    loader.start_epoch(epoch, part_way ? resumed.step : 0);
    Progress bar(fmt::format("{} epoch {}/{}", name, epoch + 1, epochs), iters, lo.batch_size,
                 part_way ? resumed.step : 0);
    double loss_sum = 0, correct = 0, secs_before = 0;
    int64_t seen = 0, i = 0;
    if (part_way) {
      loss_sum = resumed.sum("loss_sum"), correct = resumed.sum("correct"), secs_before = resumed.sum("seconds");
      seen = int64_t(resumed.sum("seen")), i = resumed.step;
    }
    data::Batch b;
    while (loader.next(b)) {
      opt->set_lr(lr_plan.at(epoch, i, iters));
      Tensor x = to_device(b.views[0], run.device), y = to_device(b.labels, run.device);
      Tensor logits;
      if (linear) {
        Tensor f;
        {
          NoGradGuard no_grad;
          f = backbone_features(*model, x);
        }
        logits = model->child(head)(f);
      } else {
        logits = (*model)(x);
      }
      Tensor loss = cross_entropy(logits, y);
      const double l = loss.item();
      check_finite_loss(l, epoch, i, iters, epoch * iters + i,
                        epoch > 0 && (epoch > start_epoch || !run.resume_from.empty()) ? ckpt_path : "");
      opt->zero_grad();
      loss.backward();
      opt->step();
      const int64_t n = x.size(0);
      loss_sum += l * double(n);
      correct += top1_correct(logits.detach(), y);
      seen += n;
      ++i;
      bar.step({{"loss", l}, {"lr", opt->lr()}, {"top1", 100.0 * correct / double(seen)}});
      if (StopSignals::requested() && i < iters) {
        PartialEpoch part;
        part.step = i;
        part.sums = {{"loss_sum", loss_sum}, {"correct", correct}, {"seen", double(seen)},
                     {"seconds", secs_before + bar.done()}};
        checkpoint_after(epoch, part, -1);
        return stopped_run(name, dir.path(), epoch + 1, i, iters);
      }
    }
    const double secs = secs_before + bar.done();
    const double ips = double(seen) / std::max(secs, 1e-9);
    EvalResult ev = evaluate_classifier(*model, d.val, d, run.device, a.integer("eval-batch-size", 1));
    best = std::max(best, ev.top1);
    const double train_loss = loss_sum / double(std::max<int64_t>(seen, 1));
    const double train_top1 = 100.0 * correct / double(std::max<int64_t>(seen, 1));
    std::printf("%s epoch %lld/%lld: train loss %.4f top-1 %.2f%% | val loss %.4f top-1 %.2f%% (best %.2f%%) | lr "
                "%.4g | %s, %.0f img/s\n",
                name.c_str(), (long long)epoch + 1, (long long)epochs, train_loss, train_top1, ev.loss, ev.top1, best,
                opt->lr(), fmt_duration(secs).c_str(), ips);
    std::fflush(stdout);
    // The row before the checkpoint: --resume drops a row the checkpoint lacks.
    dir.append_metrics({{"epoch", double(epoch + 1)},
                        {"lr", opt->lr()},
                        {"train_loss", train_loss},
                        {"train_top1", train_top1},
                        {"val_loss", ev.loss},
                        {"val_top1", ev.top1},
                        {"best_val_top1", best},
                        {"epoch_sec", secs},
                        {"images_per_sec", ips}});
    checkpoint_after(epoch + 1, PartialEpoch{}, ev.top1);
    if (StopSignals::requested() && epoch + 1 < end_epoch) return stopped_run(name, dir.path(), epoch + 1, iters, iters);
  }
  if (linear && !frozen_before.empty()) {
    // main_lincls.py's sanity check: the frozen backbone did not change.
    nn::NamedTensors now = model->state_dict();
    for (auto& [n, t] : frozen_before) {
      const Tensor& cur = nn::find_tensor(now, n);
      MOCO_CHECK(amax(abs(sub(cur, t))).item() == 0,
                 "linear: sanity check failed: the frozen tensor {} changed during training", n);
    }
    std::printf("linear: sanity check passed (the frozen backbone is unchanged)\n");
  }
  std::printf("moco %s: best val top-1 %.2f%%; run folder %s\n", name.c_str(), best, dir.path().c_str());
  return 0;
}

}  // namespace moco::cli
