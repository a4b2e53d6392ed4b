// MoCo pretraining (v1, v2, v3) as a library: a typed recipe with every value
// resolved, and the loop of main_moco.py with the kNN monitor, MoCo's
// internals logged every few steps (steps.jsonl / steps.csv), a metrics row
// and a checkpoint every epoch, and a clean stop on SIGINT / SIGTERM.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "contrastive/knn.h"
#include "contrastive/moco.h"
#include "train/checkpoint.h"
#include "train/data_setup.h"
#include "train/dist.h"
#include "train/hooks.h"
#include "train/model_spec.h"
#include "train/optimizer.h"

namespace moco::train {

struct PretrainRecipe {
  std::string version = "v2";  // v1 | v2 | v3
  bool cifar_demo = false;     // the CIFAR-10 demo notebook's augmentation (v1/v2)
  int64_t dim = 128;           // feature dimension
  int64_t K = 4096;            // v1/v2 queue size
  double m = 0.99;             // key encoder momentum (v3: the start of the cosine with m_cos)
  double T = 0.2;              // softmax temperature
  int64_t mlp_dim = 1024;      // v3 projector / predictor hidden width
  bool mlp = true;             // v1/v2: the 2-layer MLP head
  bool aug_plus = true;        // v1/v2: MoCo v2's augmentation
  bool symmetric = false;      // v1/v2: ctr(q1,k2) + ctr(q2,k1)
  bool m_cos = false;          // v3: momentum rises to 1 on a cosine
  int64_t bn_splits = 8;       // v1/v2: shuffle-BN groups
  bool shuffle_bn = true;      // v1/v2: keys on a shuffled batch
  bool sync_bn = false;        // v3, data-parallel: every BatchNorm over the global batch (SyncBatchNorm)
  int64_t epochs = 200, batch_size = 512;
  double base_lr = 0.06;       // --lr: v1/v2 the lr; v3 the base lr, used x batch / 256
  OptimizerChoice optimizer;   // lr as used (v3: the base lr x batch / 256)
  LrPlan lr;
  double crop_min = 0.2;       // RandomResizedCrop's smallest scale
  // The kNN monitor on the test split, every knn_every epochs and after the last (0: off).
  int64_t knn_every = 1, knn_k = 200, knn_bank = 0, knn_test = 0;  // bank / test: 0 = the whole split
  double knn_t = 0.1;
  bool knn_head_features = false;  // the query encoder's output instead of the pooled backbone features
  std::string classes;             // the classes of the data (for the kNN bank, the train split of them)
  int64_t log_every = 20;          // a row of MoCo's internals every N steps (0: off)
  int64_t check_sync_every = 0;    // data-parallel: check every N steps that the ranks' weights agree (0: at the start only)
};

// The official recipes with every value resolved: main_moco.py of moco (v1,
// v2) and of moco-v3 (v3), with the CIFAR-10 demo's sizes for images of 64 px
// or less (queue 4096, m 0.99, split BN 8, batch 512, lr 0.06, wd 5e-4).
// `epochs` 0: the recipe's (v1/v2 200; v3 ResNet 100, ViT 300); the v3
// warm-up follows the epochs.
PretrainRecipe moco_v1_recipe(int image_size, int64_t epochs = 0);
PretrainRecipe moco_v2_recipe(int image_size, int64_t epochs = 0);
PretrainRecipe moco_v3_recipe(int image_size, bool vit, int64_t epochs = 0);
// The CIFAR-10 demo notebook exactly (v1 or v2 queue; no MLP head, T 0.1, its
// augmentation, cosine lr counted from epoch 1, kNN on the head's output).
PretrainRecipe cifar_demo_recipe(const std::string& version, int64_t epochs = 0);
// The recipe of `version` ("v1", "v2", "v3"; cifar_demo: the demo's).
PretrainRecipe moco_recipe(const std::string& version, int image_size, bool vit, bool cifar_demo = false,
                           int64_t epochs = 0);
// moco-v3's warm-up: 10 of 100 epochs (ResNet), 40 of 300 (ViT); proportionally fewer for shorter runs.
double v3_warmup_epochs(bool vit, int64_t epochs);
// The optimiser v3 uses (ResNet lars, ViT adamw) and its base lr and weight decay.
OptimizerChoice v3_optimizer(const std::string& kind);

// kNN top-1 (%) of `features` with `bank` as the memory (labelled images) and
// `test` as queries, both through the evaluation transform of `d`; `max_bank`
// > 0 keeps a stratified, seeded subset of about that many bank images,
// `max_test` likewise for the queries. `hooks` see one pass ("kNN monitor").
double knn_top1(const contrastive::FeatureFn& features, data::DatasetPtr bank, data::DatasetPtr test,
                const DataSetup& d, int64_t k, double T, int64_t max_bank, int64_t max_test, uint64_t seed,
                int64_t batch_size = 256, const TrainingHooks& hooks = {});

class MocoTrainer {
 public:
  // Builds MoCo (v3: MoCoV3, else MoCoV2) around the backbone of `spec`, its
  // optimiser, and the data pipeline of the recipe; the weights follow `seed`.
  // Data-parallel across the processes of `group` (train/dist.h; MoCo v1/v2:
  // builder.py's cross-rank shuffle-BN and gathered keys; v3: gathered keys,
  // and with recipe.sync_bn SyncBatchNorm in both encoders, projector and
  // predictor included); recipe.batch_size is the global batch.
  MocoTrainer(PretrainRecipe recipe, ModelSpec spec, DataSetup data, Device device, uint64_t seed,
              ProcessGroup& group = world());
  contrastive::MoCo& model() { return *model_; }
  optim::Optimizer& optimizer() { return *opt_; }
  const PretrainRecipe& recipe() const { return r_; }
  void resume(const Checkpoint& c);  // a checkpoint this trainer wrote
  int64_t start_epoch() const { return start_epoch_; }
  // The kNN monitor's top-1 now (on the test split; computed by rank 0 alone, -1 on the others).
  double knn(const TrainingHooks& hooks = {});
  // Trains up to `end_epoch` (at most recipe.epochs) in `dir`: rows of
  // internals (steps), a metrics row and the checkpoint every epoch; a stop
  // signal ends it after the current batch with a checkpoint that resumes there.
  RunEnd run(const RunDir& dir, int64_t end_epoch, const TrainingHooks& hooks = {});
  double last_knn() const { return last_knn_; }  // -1 when not measured

 private:
  void save(const std::string& path, int64_t epochs_done, const PartialEpoch& part, double knn_acc) const;
  PretrainRecipe r_;
  ModelSpec spec_;
  DataSetup d_;
  Device device_;
  uint64_t seed_;
  ProcessGroup& g_;
  std::shared_ptr<contrastive::MoCo> model_;
  std::string encoder_prefix_;
  std::unique_ptr<optim::Optimizer> opt_;
  data::DatasetPtr knn_bank_;
  int64_t start_epoch_ = 0;
  std::map<std::string, std::string> resumed_meta_;
  bool resumed_any_ = false;
  double last_knn_ = -1;
};

}  // namespace moco::train
