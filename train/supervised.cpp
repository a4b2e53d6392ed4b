#include "train/supervised.h"

#include <chrono>
#include <cmath>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "data/loader.h"
#include "data/transforms.h"
#include "nn/init.h"
#include "nn/sync_batchnorm.h"
#include "train/metrics.h"
#include "train/stop_signal.h"

namespace moco::train {

const char* mode_name(SupervisedMode m) {
  switch (m) {
    case SupervisedMode::train: return "train";
    case SupervisedMode::linear: return "linear";
    case SupervisedMode::finetune: return "finetune";
  }
  return "?";
}

SupervisedRecipe supervised_recipe(SupervisedMode mode, int image_size, bool vit, int64_t batch_size, int64_t epochs,
                                   const std::string& optimizer) {
  SupervisedRecipe r;
  r.mode = mode;
  r.epochs = epochs;
  r.batch_size = batch_size;
  r.crop_min = image_size <= 64 ? 0.8 : 0.08;
  const double B = double(batch_size);
  if (mode == SupervisedMode::linear) {
    r.optimizer = {optimizer.empty() ? "sgd" : optimizer, 30, 0.9, 0};
    r.lr = LrPlan::per_epoch(r.optimizer.lr, double(epochs), false, {60, 80});
  } else {
    const std::string kind = optimizer.empty() ? (vit ? "adamw" : "sgd") : optimizer;
    MOCO_USAGE_CHECK(kind == "sgd" || kind == "adamw" || kind == "lars",
                     "--optimizer must be sgd, adamw or lars, got '{}'", kind);
    r.optimizer = kind == "adamw" ? OptimizerChoice{kind, 5e-4 * B / 512, 0.9, 0.05}
                  : kind == "lars" ? OptimizerChoice{kind, 0.1 * B / 256, 0.9, 1e-6}
                                   : OptimizerChoice{kind, 0.1 * B / 256, 0.9, 5e-4};
    const double warmup = vit ? double(std::min<int64_t>(5, epochs / 10)) : 0;  // DeiT's 5, at most a tenth
    r.lr = warmup > 0 ? LrPlan::warmup_cosine(r.optimizer.lr, double(epochs), warmup)
                      : LrPlan::per_epoch(r.optimizer.lr, double(epochs), true);
  }
  return r;
}

EvalResult evaluate_classifier(nn::Module& model, const data::DatasetPtr& ds, const DataSetup& d, Device device,
                               int64_t batch_size, ProcessGroup& g) {
  data::LoaderOptions lo;
  lo.batch_size = batch_size;
  lo.shuffle = false;
  lo.drop_last = false;
  lo.num_workers = d.workers;
  lo.rank = g.rank();
  lo.world = g.size();
  broadcast_buffers(g, model);
  data::DataLoader loader(ds, data::eval_transform(preset_options(d)), lo);
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
  std::vector<double> sums = {loss_sum, correct, double(r.n)};
  g.all_reduce_sum(sums);
  loss_sum = sums[0], correct = sums[1], r.n = int64_t(sums[2]);
  r.loss = r.n ? loss_sum / double(r.n) : 0;
  r.top1 = r.n ? 100.0 * correct / double(r.n) : 0;
  return r;
}

SupervisedTrainer::SupervisedTrainer(SupervisedRecipe recipe, ModelSpec spec, DataSetup data, Device device,
                                     uint64_t seed, const Pretrained* pretrained, ProcessGroup& group)
    : r_(std::move(recipe)), spec_(std::move(spec)), d_(std::move(data)), device_(device), seed_(seed), g_(group) {
  MOCO_USAGE_CHECK(r_.batch_size % g_.size() == 0,
                   "--batch-size {} is the global batch: it must be a multiple of the {} processes", r_.batch_size,
                   g_.size());
  nn::manual_seed(seed);
  model_ = make_backbone(spec_);
  const std::string head = spec_.head();
  if (pretrained) {
    // Every backbone tensor must be there; the head is new.
    nn::NamedTensors targets;
    for (auto& [n, t] : model_->state_dict())
      if (n.rfind(head + ".", 0) != 0) targets.emplace_back(n, t);
    nn::load_into(targets, pretrained->backbone, true, "--pretrained " + pretrained->path);
  }
  if (r_.mode == SupervisedMode::linear) {
    // main_lincls.py: freeze all but fc; init fc with N(0, 0.01), bias 0.
    model_->requires_grad_(false);
    nn::Module& fc = model_->child(head);
    fc.requires_grad_(true);
    for (auto& [n, t] : fc.named_parameters()) {
      if (n == "weight") nn::init::normal_(t, 0, 0.01);
      else nn::init::zeros_(t);
    }
  }
  if (r_.sync_bn && g_.size() > 1) nn::use_sync_batch_norm(*model_, g_);  // in one process BN is the same
  model_->to(device_);
  broadcast_module(g_, *model_);  // DDP starts every rank from rank 0's weights
  check_parameters_in_sync(g_, *model_, "at the start");
  opt_ = make_optimizer(r_.optimizer, model_->named_parameters());
}

void SupervisedTrainer::resume(const Checkpoint& c) {
  model_->load_state_dict(c.model, true);
  opt_->load_state_dict(c.optimizer);
  start_epoch_ = c.epoch();
  resumed_meta_ = c.meta;
  resumed_any_ = true;
}

void SupervisedTrainer::save(const std::string& path, int64_t epochs_done, const PartialEpoch& part,
                             double val_top1) const {
  Checkpoint c;
  c.model = model_->state_dict();
  c.optimizer = opt_->state_dict();
  c.meta = spec_.to_meta();
  c.meta["kind"] = "supervised";
  c.meta["command"] = mode_name(r_.mode);
  c.meta["epoch"] = std::to_string(epochs_done);
  c.meta["epochs"] = std::to_string(r_.epochs);
  if (val_top1 >= 0) c.meta["val_top1"] = fmt::format("{:.4f}", val_top1);
  c.meta["dataset"] = d_.spec;
  c.meta["seed"] = std::to_string(seed_);  // with the epoch: the data order and augmentations to come
  part.to_meta(c.meta);
  save_checkpoint(path, c);
}

RunEnd SupervisedTrainer::run(const RunDir& dir, int64_t end_epoch, const TrainingHooks& hooks) {
  const bool linear = r_.mode == SupervisedMode::linear;
  const std::string name = mode_name(r_.mode), head = spec_.head(), ckpt = dir.file("checkpoint.safetensors");
  const bool writer = g_.is_writer();
  std::vector<Tensor> params;
  for (auto& [n, p] : model_->named_parameters()) params.push_back(p);
  GradientReducer reducer(g_, params);  // data-parallel: gradients averaged over the ranks during the backward
  if (resumed_any_) {
    if (writer) dir.truncate_metrics(size_t(start_epoch_));  // rows past the checkpoint go
    for (auto& row : dir.read_metrics())
      if (auto v = find_value(row, "val_top1")) best_ = std::max(best_, *v);
  }
  if (linear && frozen_before_.empty())
    for (auto& [n, t] : model_->state_dict())
      if (n.rfind(head + ".", 0) != 0 && is_floating(t.dtype())) frozen_before_.emplace_back(n, t.clone());

  data::PresetOptions po = preset_options(d_);
  po.crop_min = r_.crop_min;
  const data::LoaderOptions lo = shard_loader_options(g_, r_.batch_size, d_.workers, seed_);
  data::DataLoader loader(d_.train, data::linear_train(po), lo);
  const int64_t iters = loader.batches_per_epoch();
  const PartialEpoch resumed = PartialEpoch::from_meta(resumed_meta_, iters);  // a run stopped mid-epoch

  StopSignals stop;
  using clock = std::chrono::steady_clock;
  for (int64_t epoch = start_epoch_; epoch < end_epoch; ++epoch) {
    if (linear) model_->eval();  // BN frozen: running statistics used, not updated
    else model_->train();
    const bool part_way = epoch == start_epoch_ && resumed.step > 0;
    loader.start_epoch(epoch, part_way ? resumed.step : 0);
    hooks.on_begin(fmt::format("{} epoch {}/{}", name, epoch + 1, r_.epochs), iters, lo.batch_size,
                   part_way ? resumed.step : 0);
    const auto t0 = clock::now();
    double loss_sum = 0, correct = 0, secs_before = 0;
    int64_t seen = 0, i = 0;
    if (part_way) {  // the sums of every rank so far: rank 0 carries them
      secs_before = resumed.sum("seconds"), i = resumed.step;
      if (writer) {
        loss_sum = resumed.sum("loss_sum"), correct = resumed.sum("correct");
        seen = int64_t(resumed.sum("seen"));
      }
    }
    // The epoch's sums over every rank (the progress bar shows this rank's).
    auto global_sums = [&] {
      std::vector<double> s = {loss_sum, correct, double(seen)};
      g_.all_reduce_sum(s);
      return s;
    };
    auto seconds = [&] { return secs_before + std::chrono::duration<double>(clock::now() - t0).count(); };
    data::Batch b;
    while (loader.next(b)) {
      opt_->set_lr(r_.lr.at(epoch, i, iters));
      Tensor x = to_device(b.views[0], device_), y = to_device(b.labels, device_);
      if (g_.size() > 1) broadcast_buffers(g_, *model_);  // DDP's broadcast_buffers=True
      Tensor logits;
      if (linear) {
        Tensor f;
        {
          NoGradGuard no_grad;
          f = model_->features(x);
        }
        logits = model_->child(head)(f);
      } else {
        logits = (*model_)(x);
      }
      Tensor loss = cross_entropy(logits, y);
      const double l = loss.item();
      check_finite_loss(l, epoch, i, iters, epoch * iters + i,
                        epoch > 0 && (epoch > start_epoch_ || resumed_any_) ? ckpt : "");
      opt_->zero_grad();
      reducer.backward(loss);
      opt_->step();
      if (const int64_t step = epoch * iters + i + 1; r_.check_sync_every > 0 && step % r_.check_sync_every == 0)
        check_parameters_in_sync(g_, *model_, fmt::format("after step {}", step));
      const int64_t n = x.size(0);
      loss_sum += l * double(n);
      correct += top1_correct(logits.detach(), y);
      seen += n;
      ++i;
      hooks.on_step({{"loss", l}, {"lr", opt_->lr()}, {"top1", 100.0 * correct / double(seen)}});
      if (const int sig = agreed_stop(g_); sig != 0 && i < iters) {
        const std::vector<double> s = global_sums();
        PartialEpoch part;
        part.step = i;
        part.sums = {{"loss_sum", s[0]}, {"correct", s[1]}, {"seen", s[2]}, {"seconds", seconds()}};
        hooks.on_end();
        if (writer) save(ckpt, epoch, part, -1);
        return {true, epoch + 1, i, iters, sig};
      }
    }
    const double secs = seconds();
    hooks.on_end();
    const std::vector<double> s = global_sums();
    loss_sum = s[0], correct = s[1], seen = int64_t(s[2]);
    const double ips = double(seen) / std::max(secs, 1e-9);
    EvalResult ev = evaluate_classifier(*model_, d_.val, d_, device_, r_.eval_batch_size, g_);
    best_ = std::max(best_, ev.top1);
    const MetricsRow row = {{"epoch", double(epoch + 1)},
                            {"lr", opt_->lr()},
                            {"train_loss", loss_sum / double(std::max<int64_t>(seen, 1))},
                            {"train_top1", 100.0 * correct / double(std::max<int64_t>(seen, 1))},
                            {"val_loss", ev.loss},
                            {"val_top1", ev.top1},
                            {"best_val_top1", best_},
                            {"epoch_sec", secs},
                            {"images_per_sec", ips}};
    // The row before the checkpoint: --resume drops a row the checkpoint lacks.
    if (writer) {
      dir.append_metrics(row);
      save(ckpt, epoch + 1, PartialEpoch{}, ev.top1);
    }
    if (hooks.epoch_done) hooks.epoch_done(row);
    if (const int sig = agreed_stop(g_); sig != 0 && epoch + 1 < end_epoch) return {true, epoch + 1, iters, iters, sig};
  }
  return {};
}

void SupervisedTrainer::check_backbone_unchanged() const {
  nn::NamedTensors now = model_->state_dict();
  for (auto& [n, t] : frozen_before_) {
    const Tensor& cur = nn::find_tensor(now, n);
    MOCO_CHECK(amax(abs(sub(cur, t))).item() == 0,
               "linear: sanity check failed: the frozen tensor {} changed during training", n);
  }
}

}  // namespace moco::train
