// Supervised training of a backbone with a classification head: `train`
// (from scratch), `linear` (a linear classifier on frozen pretrained
// features, main_lincls.py) and `finetune` (end to end from a pretrained
// backbone). One loop serves all three; they differ in what is trained, the
// BN mode and the defaults their command resolves.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "train/checkpoint.h"
#include "train/data_setup.h"
#include "train/dist.h"
#include "train/hooks.h"
#include "train/model_spec.h"
#include "train/optimizer.h"

namespace moco::train {

enum class SupervisedMode { train, linear, finetune };
const char* mode_name(SupervisedMode m);  // "train", "linear", "finetune"

// Every value resolved.
struct SupervisedRecipe {
  SupervisedMode mode = SupervisedMode::train;
  int64_t epochs = 100, batch_size = 256, eval_batch_size = 256;
  OptimizerChoice optimizer;
  LrPlan lr;
  double crop_min = 0.08;  // RandomResizedCrop's smallest scale
  bool sync_bn = false;    // data-parallel: BatchNorm statistics over every rank's slice (SyncBatchNorm)
  int64_t check_sync_every = 0;  // data-parallel: check every N steps that the ranks' weights agree (0: at the start only)
};

// The recipes, every value resolved (`optimizer` "": the recipe's choice):
//   train / finetune: ResNet sgd lr 0.1 x batch/256, wd 5e-4, cosine; ViT adamw
//     lr 5e-4 x batch/512, wd 0.05, warm-up min(5, epochs/10) then cosine per
//     iteration; lars lr 0.1 x batch/256, wd 1e-6;
//   linear: main_lincls.py, sgd lr 30, momentum 0.9, no weight decay, lr /10
//     at epochs 60 and 80 of 100.
// crop_min: 0.08 as main_lincls.py; 0.8 for images of 64 px or less (close to CIFAR's pad-and-crop).
SupervisedRecipe supervised_recipe(SupervisedMode mode, int image_size, bool vit, int64_t batch_size, int64_t epochs,
                                   const std::string& optimizer = "");

struct EvalResult {
  double loss = 0, top1 = 0;  // mean cross-entropy, top-1 in %
  int64_t n = 0;
};
// Top-1 and loss of a classifier (evaluation mode, no grad) on `ds` with the
// evaluation transform (resize + centre crop, normalisation of `d`).
// Across the processes of `g`: each rank evaluates its share of `ds` with
// rank 0's buffers, and the sums are added up (the same result on every rank).
EvalResult evaluate_classifier(nn::Module& model, const data::DatasetPtr& ds, const DataSetup& d, Device device,
                               int64_t batch_size, ProcessGroup& g = world());

class SupervisedTrainer {
 public:
  // Builds the model from `spec` with the init generator seeded by `seed`;
  // `pretrained` (linear, finetune) fills every backbone tensor (the head is
  // new); linear freezes all but the head (N(0, 0.01) weights, zero bias).
  // Data-parallel across the processes of `group` (train/dist.h): recipe.batch_size is the global batch.
  SupervisedTrainer(SupervisedRecipe recipe, ModelSpec spec, DataSetup data, Device device, uint64_t seed,
                    const Pretrained* pretrained = nullptr, ProcessGroup& group = world());
  nn::Backbone& model() { return *model_; }
  optim::Optimizer& optimizer() { return *opt_; }
  // Continues from a checkpoint this trainer wrote (the model and optimiser state, the epoch, a partial epoch).
  void resume(const Checkpoint& c);
  int64_t start_epoch() const { return start_epoch_; }
  // Trains up to `end_epoch` (at most recipe.epochs) in `dir`: each epoch a
  // metrics row, then the checkpoint `dir`/checkpoint.safetensors (rank 0
  // writes them); a stop signal ends it after the current batch with a
  // checkpoint that resumes there, with any number of processes.
  RunEnd run(const RunDir& dir, int64_t end_epoch, const TrainingHooks& hooks = {});
  double best_top1() const { return best_; }
  // linear: the frozen backbone did not change (main_lincls.py's sanity check); throws if it did.
  void check_backbone_unchanged() const;

 private:
  void save(const std::string& path, int64_t epochs_done, const PartialEpoch& part, double val_top1) const;
  SupervisedRecipe r_;
  ModelSpec spec_;
  DataSetup d_;
  Device device_;
  uint64_t seed_;
  ProcessGroup& g_;
  std::shared_ptr<nn::Backbone> model_;
  std::unique_ptr<optim::Optimizer> opt_;
  int64_t start_epoch_ = 0;
  PartialEpoch resumed_;
  std::map<std::string, std::string> resumed_meta_;
  bool resumed_any_ = false;
  double best_ = 0;
  nn::NamedTensors frozen_before_;
};

}  // namespace moco::train
