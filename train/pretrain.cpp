#include "train/pretrain.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "autograd/engine.h"
#include "contrastive/contrastive.h"
#include "contrastive/internals.h"
#include "data/loader.h"
#include "data/transforms.h"
#include "nn/init.h"
#include "nn/sync_batchnorm.h"
#include "train/metrics.h"
#include "train/stop_signal.h"

namespace moco::train {

namespace {

// The columns of steps.csv and metrics.csv (contrastive/internals.h says what
// each measures). Epoch rows hold the epoch's own loss, accuracy and lr, and
// the mean of the internals over the epoch's logged steps.
const std::vector<std::string> kInternalNames = {
    "logit_pos_mean", "logit_neg_mean", "logit_neg_std", "logit_neg_max",  "encoder_drift", "feature_std",
    "alignment",      "uniformity",     "queue_age_mean", "queue_sim_mean", "grad_norm"};

std::vector<std::string> step_columns() {
  std::vector<std::string> c = {"step", "epoch", "loss", "loss_chance", "inst_top1"};
  c.insert(c.end(), kInternalNames.begin(), kInternalNames.end() - 1);
  c.insert(c.end(), {"lr", "moco_m", "grad_norm"});
  return c;
}

std::vector<std::string> epoch_columns() {
  std::vector<std::string> c = {"epoch", "step", "lr", "moco_m", "loss", "loss_chance", "inst_top1", "knn_top1"};
  c.insert(c.end(), kInternalNames.begin(), kInternalNames.end());
  c.insert(c.end(), {"epoch_sec", "images_per_sec"});
  return c;
}

void add_internals(MetricsRow& row, const contrastive::Internals& in) {
  row.insert(row.end(), {{"logit_pos_mean", in.logits.pos_mean},
                         {"logit_neg_mean", in.logits.neg_mean},
                         {"logit_neg_std", in.logits.neg_std},
                         {"logit_neg_max", in.logits.neg_max},
                         {"encoder_drift", in.encoder_drift},
                         {"feature_std", in.feature_std},
                         {"alignment", in.alignment},
                         {"uniformity", in.uniformity}});
  if (in.queue_age_mean) row.emplace_back("queue_age_mean", *in.queue_age_mean);
  if (in.queue_sim_mean) row.emplace_back("queue_sim_mean", *in.queue_sim_mean);
  row.emplace_back("grad_norm", in.grad_norm);
}

}  // namespace

namespace {

PretrainRecipe v1v2(const std::string& version, int image_size, int64_t epochs) {
  const bool small = image_size <= 64, v2 = version == "v2";
  PretrainRecipe r;
  r.version = version;
  r.dim = 128;
  r.K = small ? 4096 : 65536;
  r.m = small ? 0.99 : 0.999;
  r.T = v2 ? 0.2 : small ? 0.1 : 0.07;
  r.mlp = r.aug_plus = v2;
  r.mlp_dim = small ? 1024 : 4096;  // unused by v1/v2; recorded as v3 would resolve it
  r.bn_splits = small ? 8 : 1;
  r.batch_size = small ? 512 : 256;
  r.epochs = epochs > 0 ? epochs : 200;
  r.base_lr = small ? 0.06 : 0.03;
  r.optimizer = {"sgd", r.base_lr, 0.9, small ? 5e-4 : 1e-4};
  // v2's --cos; the demo sets cos for its v1 too, and the small-image defaults follow the demo.
  r.lr = LrPlan::per_epoch(r.base_lr, double(r.epochs), v2 || small, {120, 160});
  r.crop_min = 0.2;
  return r;
}

}  // namespace

PretrainRecipe moco_v1_recipe(int image_size, int64_t epochs) { return v1v2("v1", image_size, epochs); }
PretrainRecipe moco_v2_recipe(int image_size, int64_t epochs) { return v1v2("v2", image_size, epochs); }

double v3_warmup_epochs(bool vit, int64_t epochs) {
  const double full = vit ? 40 : 10, of = vit ? 300 : 100, e = double(epochs);
  return std::floor(std::min(full, full * e / of));
}

OptimizerChoice v3_optimizer(const std::string& kind) {
  if (kind == "adamw") return {"adamw", 1.5e-4, 0.9, 0.1};
  if (kind == "lars") return {"lars", 0.6, 0.9, 1e-6};
  return {"sgd", 0.6, 0.9, 1e-6};
}

PretrainRecipe moco_v3_recipe(int image_size, bool vit, int64_t epochs) {
  const bool small = image_size <= 64;
  PretrainRecipe r;
  r.version = "v3";
  r.dim = 256;
  r.K = 0;
  r.m = 0.99;
  r.m_cos = true;
  r.T = vit ? 0.2 : 1.0;
  r.mlp_dim = small ? 1024 : 4096;
  r.mlp = r.aug_plus = false;
  r.bn_splits = 1;
  r.batch_size = small ? 256 : 4096;
  r.epochs = epochs > 0 ? epochs : vit ? 300 : 100;
  r.optimizer = v3_optimizer(vit ? "adamw" : "lars");
  r.base_lr = r.optimizer.lr;
  r.optimizer.lr = r.base_lr * double(r.batch_size) / 256;
  r.lr = LrPlan::warmup_cosine(r.optimizer.lr, double(r.epochs), v3_warmup_epochs(vit, r.epochs));
  r.crop_min = 0.08;
  return r;
}

PretrainRecipe cifar_demo_recipe(const std::string& version, int64_t epochs) {
  MOCO_USAGE_CHECK(version == "v1" || version == "v2",
                   "--recipe cifar-demo is a MoCo v1/v2 recipe (a queue, one loss); got --moco-version {}", version);
  PretrainRecipe r = v1v2(version, 32, epochs);  // the notebook's own values, whatever the image size
  r.cifar_demo = true;
  r.T = 0.1;
  r.mlp = r.aug_plus = false;
  // Cosine, the epochs counted from 1 as the notebook does, so its last epoch runs at lr 0.
  r.lr = LrPlan::per_epoch(r.base_lr, double(r.epochs), true, {120, 160}, 1);
  r.crop_min = 0.08;
  r.knn_head_features = true;
  return r;
}

PretrainRecipe moco_recipe(const std::string& version, int image_size, bool vit, bool cifar_demo, int64_t epochs) {
  MOCO_USAGE_CHECK(version == "v1" || version == "v2" || version == "v3",
                   "--moco-version must be v1, v2 or v3, got '{}'", version);
  if (cifar_demo) return cifar_demo_recipe(version, epochs);
  if (version == "v3") return moco_v3_recipe(image_size, vit, epochs);
  return v1v2(version, image_size, epochs);
}

double knn_top1(const contrastive::FeatureFn& features, data::DatasetPtr bank, data::DatasetPtr test,
                const DataSetup& d, int64_t k, double T, int64_t max_bank, int64_t max_test, uint64_t seed,
                int64_t batch_size, const TrainingHooks& hooks) {
  bank = cap_images(bank, max_bank, seed);
  test = cap_images(test, max_test, seed + 1);
  data::LoaderOptions lo;
  lo.batch_size = batch_size;
  lo.shuffle = false;
  lo.drop_last = false;
  lo.num_workers = d.workers;
  data::Pipeline eval = data::eval_transform(preset_options(d));
  data::DataLoader mem(bank, eval, lo), tst(test, eval, lo);
  // The whole train split passes through the encoder: minutes on a CPU, worth a progress bar.
  auto batches = [&](int64_t n) { return (n + batch_size - 1) / batch_size; };
  hooks.on_begin("kNN monitor", batches(bank->size()) + batches(test->size()), batch_size);
  contrastive::FeatureFn counted = [&](const Tensor& x) {
    Tensor y = features(x);
    hooks.on_step({});
    return y;
  };
  const double top1 = contrastive::knn_evaluate(counted, mem, tst, bank->num_classes(), k, T).top1();
  hooks.on_end();
  return top1;
}

MocoTrainer::MocoTrainer(PretrainRecipe recipe, ModelSpec spec, DataSetup data, Device device, uint64_t seed,
                         ProcessGroup& group)
    : r_(std::move(recipe)), spec_(std::move(spec)), d_(std::move(data)), device_(device), seed_(seed), g_(group) {
  const bool v3 = r_.version == "v3";
  // Shuffle-BN is v1/v2's answer to BatchNorm under DDP (the official code has no SyncBN there).
  MOCO_USAGE_CHECK(v3 || !r_.sync_bn, "--sync-bn is for MoCo v3; v1/v2 use shuffle-BN (--shuffle-bn, --bn-splits) "
                                      "instead, as the official code does");
  MOCO_USAGE_CHECK(r_.batch_size % g_.size() == 0,
                   "--batch-size {} is the global batch: it must be a multiple of the {} processes", r_.batch_size,
                   g_.size());
  MOCO_USAGE_CHECK(v3 || r_.version == "v1" || r_.version == "v2", "--moco-version must be v1, v2 or v3, got '{}'",
                   r_.version);
  nn::manual_seed(seed);
  if (v3) {
    contrastive::MoCoV3Config c;
    c.dim = r_.dim;
    c.mlp_dim = r_.mlp_dim;
    c.m = r_.m;
    c.T = r_.T;
    auto v3m = std::make_shared<contrastive::MoCoV3>(make_backbone(spec_), c);
    if (g_.size() > 1) v3m->set_process_group(&g_);
    // main_moco.py's convert_sync_batchnorm(model): base and momentum encoders, projectors and predictor alike.
    // In one process BatchNorm is already over the whole batch.
    if (r_.sync_bn && g_.size() > 1) nn::use_sync_batch_norm(*v3m, g_);
    model_ = v3m;
    encoder_prefix_ = "base_encoder.";
  } else {
    contrastive::MoCoV2Config c;
    c.dim = r_.dim;
    c.K = r_.K;
    c.m = r_.m;
    c.T = r_.T;
    c.mlp = r_.mlp;
    c.symmetric = r_.symmetric;
    c.bn_splits = r_.bn_splits;
    c.shuffle_seed = seed;
    c.shuffle_bn = r_.shuffle_bn;
    const int64_t B = r_.batch_size, local = B / g_.size();
    MOCO_USAGE_CHECK(local % c.bn_splits == 0, "--batch-size {}{} must be a multiple of --bn-splits {}", B,
                     g_.size() > 1 ? fmt::format(" ({} per process)", local) : "", c.bn_splits);
    MOCO_USAGE_CHECK(c.K % (B * (c.symmetric ? 2 : 1)) == 0,
                     "--moco-k {} must be a multiple of the keys enqueued per step ({}: the batch{})", c.K,
                     B * (c.symmetric ? 2 : 1), c.symmetric ? " x 2 with --symmetric" : "");
    auto v2 = std::make_shared<contrastive::MoCoV2>(make_backbone(spec_), c);
    if (g_.size() > 1) v2->set_process_group(&g_);
    model_ = v2;
    encoder_prefix_ = "encoder_q.";
  }
  model_->to(device_);
  broadcast_module(g_, *model_);  // DDP starts every rank from rank 0's weights
  check_parameters_in_sync(g_, *model_, "at the start");
  opt_ = make_optimizer(r_.optimizer, model_->named_parameters());
  // The kNN monitor: the whole train split of the chosen classes is the bank.
  if (r_.knn_every > 0) knn_bank_ = select_classes(data::open_dataset(d_.spec, "train", d_.open), r_.classes);
}

void MocoTrainer::resume(const Checkpoint& c) {
  model_->load_checkpoint_state(c.model);
  opt_->load_state_dict(c.optimizer);
  start_epoch_ = c.epoch();
  resumed_meta_ = c.meta;
  resumed_any_ = true;
}

double MocoTrainer::knn(const TrainingHooks& hooks) {
  // Rank 0 alone: no collective inside, so the others simply go on to their next step and wait there.
  if (!g_.is_writer()) return -1;
  if (!knn_bank_) knn_bank_ = select_classes(data::open_dataset(d_.spec, "train", d_.open), r_.classes);
  const bool was = model_->is_training();
  model_->eval();
  nn::Backbone& enc = model_->query_encoder();
  auto f = [&](const Tensor& x) {
    Tensor xd = to_device(x, device_);
    return r_.knn_head_features ? enc.forward(xd) : enc.features(xd);
  };
  const double top1 = knn_top1(f, knn_bank_, d_.val, d_, r_.knn_k, r_.knn_t, r_.knn_bank, r_.knn_test, seed_, 256, hooks);
  model_->train(was);
  return top1;
}

void MocoTrainer::save(const std::string& path, int64_t epochs_done, const PartialEpoch& part, double knn_acc) const {
  Checkpoint c;
  c.model = model_->checkpoint_state();
  c.optimizer = opt_->state_dict();
  c.meta = spec_.to_meta();
  c.meta["kind"] = "moco";
  c.meta["moco_version"] = model_->version();
  c.meta["encoder_prefix"] = encoder_prefix_;
  c.meta["head"] = model_->head_name();
  c.meta["epoch"] = std::to_string(epochs_done);
  c.meta["epochs"] = std::to_string(r_.epochs);
  c.meta["dataset"] = d_.spec;
  c.meta["seed"] = std::to_string(seed_);  // with the epoch: the data order and augmentations to come
  if (knn_acc >= 0) c.meta["knn_top1"] = fmt::format("{:.4f}", knn_acc);
  part.to_meta(c.meta);
  save_checkpoint(path, c);
}

RunEnd MocoTrainer::run(const RunDir& dir, int64_t end_epoch, const TrainingHooks& hooks) {
  const bool v3 = r_.version == "v3";
  const std::string ckpt = dir.file("checkpoint.safetensors");
  const bool writer = g_.is_writer();
  std::vector<Tensor> params;
  for (auto& [n, p] : model_->named_parameters()) params.push_back(p);
  GradientReducer reducer(g_, params);  // data-parallel: gradients averaged over the ranks during the backward
  // Rows past the checkpoint (written before a kill that beat the checkpoint's
  // rename) go; steps.jsonl's once the steps per epoch are known.
  if (resumed_any_ && writer) dir.truncate_metrics(size_t(start_epoch_));
  data::PresetOptions po = preset_options(d_);
  po.crop_min = r_.crop_min;
  data::Pipeline pipe = v3             ? data::moco_v3(po)
                        : r_.cifar_demo ? data::moco_cifar_demo(po)
                        : r_.aug_plus   ? data::moco_v2(po)
                                        : data::moco_v1(po);
  const data::LoaderOptions lo = shard_loader_options(g_, r_.batch_size, d_.workers, seed_);
  data::DataLoader loader(d_.train, pipe, lo);
  const int64_t iters = loader.batches_per_epoch();
  const PartialEpoch resumed = PartialEpoch::from_meta(resumed_meta_, iters);  // a run stopped mid-epoch
  if (writer) dir.truncate_rows("steps", "step", double(start_epoch_ * iters + resumed.step));
  const std::vector<std::string> step_cols = step_columns(), epoch_cols = epoch_columns();
  const contrastive::MomentumSchedule msched{r_.m, v3 && r_.m_cos, double(r_.epochs)};
  const LrPlan& lr_plan = r_.lr;
  using clock = std::chrono::steady_clock;

  StopSignals stop;
  for (int64_t epoch = start_epoch_; epoch < end_epoch; ++epoch) {
    model_->train();
    const bool part_way = epoch == start_epoch_ && resumed.step > 0;
    loader.start_epoch(epoch, part_way ? resumed.step : 0);
    hooks.on_begin(fmt::format("pretrain epoch {}/{}", epoch + 1, r_.epochs), iters, r_.batch_size, part_way ? resumed.step : 0);
    const auto t0 = clock::now();
    double loss_sum = 0, correct = 0, chance = 0, secs_before = 0;
    auto seconds = [&] { return secs_before + std::chrono::duration<double>(clock::now() - t0).count(); };
    int64_t seen = 0, i = 0;
    std::map<std::string, std::pair<double, int64_t>> logged;  // name -> (sum, count) over this epoch's step rows
    if (part_way) {  // the sums of every rank so far: rank 0 carries them
      chance = resumed.sum("chance"), secs_before = resumed.sum("seconds"), i = resumed.step;
      if (writer) {
        loss_sum = resumed.sum("loss_sum"), correct = resumed.sum("correct");
        seen = int64_t(resumed.sum("seen"));
      }
      for (const std::string& k : kInternalNames)
        if (resumed.sums.count("logged." + k + ".n"))
          logged[k] = {resumed.sum("logged." + k), int64_t(resumed.sum("logged." + k + ".n"))};
    }
    data::Batch b;
    while (loader.next(b)) {
      const double e = double(epoch) + double(i) / double(iters);
      opt_->set_lr(lr_plan.at(epoch, i, iters));
      model_->set_momentum(msched(e));
      Tensor x1 = to_device(b.views[0], device_), x2 = to_device(b.views[1], device_);
      if (g_.size() > 1) broadcast_buffers(g_, *model_);  // DDP's broadcast_buffers=True
      contrastive::MoCoOutput out = model_->forward_views(x1, x2);
      const double l = out.loss.item();
      check_finite_loss(l, epoch, i, iters, epoch * iters + i,
                        epoch > 0 && (epoch > start_epoch_ || resumed_any_) ? ckpt : "");
      opt_->zero_grad();
      reducer.backward(out.loss);
      chance = 0;
      for (const Tensor& lg : out.logits) chance += contrastive::chance_loss(lg.size(1), out.loss_scale);
      const int64_t step = epoch * iters + i + 1;  // steps done, this one included
      if (writer && r_.log_every > 0 && step % r_.log_every == 0) {
        // After backward (grad_norm), before the optimiser moves the query encoder.
        const contrastive::Internals in = contrastive::measure_internals(*model_, out);
        MetricsRow row = {{"step", double(step)}, {"epoch", double(step) / double(iters)}, {"loss", l},
                          {"loss_chance", in.loss_chance}, {"inst_top1", in.inst_top1}};
        add_internals(row, in);
        row.insert(row.end(), {{"lr", opt_->lr()}, {"moco_m", model_->momentum()}});
        dir.append_row("steps", step_cols, row);
        for (auto& [k, v] : row)
          if (std::find(kInternalNames.begin(), kInternalNames.end(), k) != kInternalNames.end()) {
            logged[k].first += v;
            logged[k].second += 1;
          }
      }
      opt_->step();
      if (r_.check_sync_every > 0 && step % r_.check_sync_every == 0)
        check_parameters_in_sync(g_, *model_, fmt::format("after step {}", step));
      const int64_t n = x1.size(0);
      loss_sum += l * double(n);
      correct += top1_correct(out.logits[0].detach(), out.labels[0]);  // instance discrimination accuracy
      seen += n;
      ++i;
      hooks.on_step({{"loss", l}, {"lr", opt_->lr()}, {"m", model_->momentum()}, {"acc", 100.0 * correct / double(seen)}});
      if (const int sig = agreed_stop(g_); sig != 0 && i < iters) {
        std::vector<double> s = {loss_sum, correct, double(seen)};
        g_.all_reduce_sum(s);
        PartialEpoch part;
        part.step = i;
        part.sums = {{"loss_sum", s[0]}, {"correct", s[1]}, {"chance", chance}, {"seen", s[2]}, {"seconds", seconds()}};
        for (auto& [k, v] : logged) part.sums["logged." + k] = v.first, part.sums["logged." + k + ".n"] = double(v.second);
        hooks.on_end();
        if (writer) save(ckpt, epoch, part, -1);
        return {true, epoch + 1, i, iters, sig};
      }
    }
    const double secs = seconds();
    hooks.on_end();
    {
      std::vector<double> s = {loss_sum, correct, double(seen)};
      g_.all_reduce_sum(s);
      loss_sum = s[0], correct = s[1], seen = int64_t(s[2]);
    }
    const double ips = double(seen) / std::max(secs, 1e-9);
    const bool do_knn = r_.knn_every > 0 && ((epoch + 1) % r_.knn_every == 0 || epoch + 1 == r_.epochs);
    double knn_acc = -1;  // written only when measured
    if (do_knn) last_knn_ = knn_acc = knn(hooks);
    const double loss = loss_sum / double(std::max<int64_t>(seen, 1));
    const double inst = 100.0 * correct / double(std::max<int64_t>(seen, 1));
    MetricsRow row = {{"epoch", double(epoch + 1)}, {"step", double((epoch + 1) * iters)},
                      {"lr", opt_->lr()},           {"moco_m", model_->momentum()},
                      {"loss", loss},              {"loss_chance", chance},
                      {"inst_top1", inst}};
    if (do_knn) row.emplace_back("knn_top1", knn_acc);
    for (const std::string& k : kInternalNames)
      if (logged.count(k)) row.emplace_back(k, logged[k].first / double(logged[k].second));
    row.insert(row.end(), {{"epoch_sec", secs}, {"images_per_sec", ips}});
    // The row before the checkpoint: a kill between the two leaves a row that
    // --resume drops, never a checkpoint whose epoch has no row.
    if (writer) {
      dir.append_row("metrics", epoch_cols, row);
      save(ckpt, epoch + 1, PartialEpoch{}, do_knn ? knn_acc : -1);
    }
    if (hooks.epoch_done) hooks.epoch_done(row);
    if (const int sig = agreed_stop(g_); sig != 0 && epoch + 1 < end_epoch) return {true, epoch + 1, iters, iters, sig};
  }
  return {};
}

}  // namespace moco::train
