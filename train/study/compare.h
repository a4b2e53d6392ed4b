// The seed study (`moco compare`): four models on one small classification
// task with the same fine-tuning budget — resnet (supervised from scratch),
// moco_resnet (MoCo-pretrained on the task's images without labels, then
// fine-tuned), vit and moco_vit — each trained with several seeds. Here: the
// presets, the plan of runs (budgets fitted to the data, every run's flags),
// running it through a Launcher, reading the run folders back, the claims
// as paired differences, summary.json and report.md.
#pragma once
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "train/study/budget.h"
#include "train/study/runs.h"
#include "train/study/stats.h"

namespace moco::train {

// A preset fixes the sizes and the budgets of every run. Budgets are in
// optimiser steps (a preset's *_epochs > 0 fixes epochs instead, as `full`
// keeps the seed's 50 + 50 epochs); budget.h turns them into batches and
// epochs that the chosen split can supply.
struct ComparePreset {
  int64_t seeds;
  int64_t steps, epochs;  // fine-tuning / supervised
  int64_t resnet_pretrain_steps, vit_pretrain_steps, pretrain_epochs;
  int64_t batch, resnet_pretrain_batch, vit_pretrain_batch;
  double label_fraction, data_fraction;
  int64_t label_floor;
  int64_t width, vit_dim, vit_depth, vit_heads;
  int64_t knn_bank, knn_test, val_samples;
  // The short-pretraining recipe (see README, "The seed study's recipe"):
  // v1/v2 lr (not scaled by the batch), temperature and smallest crop; v3's
  // base lr (scaled by batch/256 in pretrain) and smallest crop. 0: pretrain's own default.
  double resnet_lr, resnet_t, resnet_crop_min, vit_lr, vit_crop_min;
  bool resnet_no_mlp;  // v2 without its MLP head: the backbone itself meets the loss
  int64_t bn_splits;   // v1/v2 shuffle-BN groups (the CIFAR-10 demo: 8 of batch 512)
  int64_t knn_points;  // kNN measurements during pretraining (the last after the last epoch), besides the one at init
};

// quick | standard | full; anything else is a usage error naming --preset.
ComparePreset compare_preset(const std::string& name);

// The study's settings as the flags give them; an empty optional is "auto"
// (the preset's value, or one fitted to the data).
struct CompareOptions {
  std::string preset = "quick";
  std::optional<int64_t> seeds;
  int64_t first_seed = 0;
  std::string dataset = "fashion-mnist", data;  // data: the data set's folder ("" : found by name)
  std::optional<std::string> classes;
  std::optional<double> label_fraction, data_fraction;
  std::optional<int64_t> label_floor, steps, epochs, pretrain_steps, pretrain_epochs;
  std::optional<int64_t> width, vit_dim, vit_depth, vit_heads, batch, pretrain_batch, moco_k;
  std::optional<int64_t> val_samples, knn_test;
  int64_t patch_size = 0, image_size = 0, channels = 0;
  std::string moco_resnet = "v2", moco_vit = "v3";
  std::vector<std::string> models = {"resnet", "moco_resnet", "vit", "moco_vit"};
  std::string workers = "2", threads = "0", device = "cpu";  // passed to every run as given
  std::string out = "runs/compare";
};

// Mean absolute epoch-to-epoch change of a curve (0 for fewer than 2 points):
// the report's smoothness figure (lower is smoother).
double mean_abs_change(const std::vector<double>& v);

// One model trained with one seed, and what its run folders hold once it ran.
struct SeedRun {
  int64_t seed = 0;
  StudyRun pretrain, finetune;  // pretrain.command is empty for a supervised model
  double best = 0, final_top1 = 0, smooth = 0, seconds = 0, knn = NAN, knn_init = NAN;
  std::vector<double> loss, val;         // per fine-tuning epoch
  std::vector<double> knn_x, knn_curve;  // pretraining epoch of each kNN measurement (0: random init)
};

struct ModelRuns {
  std::string name, family, version;  // version: the MoCo recipe ("" for supervised)
  bool pretrained = false;
  Budget finetune, pretrain;
  int64_t moco_k = 0, bn_splits = 1;
  std::vector<SeedRun> seeds;
  std::vector<double> get(double SeedRun::*field) const;
};

struct Claim {
  std::string key, text, measure;
  PairedDiff d;
};

struct ComparePlan {
  CompareOptions o;  // every "auto" resolved
  ComparePreset p;
  std::string spec;  // the data set as open_dataset takes it
  std::vector<std::string> class_names;
  int64_t n_labelled = 0, n_pretrain = 0;
  Budget finetune;
  std::vector<ModelRuns> models;
  // The flags "auto" resolved to, by name (what the study's config.json records).
  std::map<std::string, std::string> resolved;
  // Run order: seeds outermost, so a study stopped early has whole seeds,
  // which the statistics can use, rather than all seeds of some models.
  std::vector<const StudyRun*> order() const;
};

// Opens the task, checks what it can supply and fits every budget; refuses
// (UsageError naming the flag) what the data cannot supply. Writes nothing.
ComparePlan plan_compare(CompareOptions o);

// Runs every run not yet done (resumed from its checkpoint when `resume`)
// and reads each model's seed back from its folders as it finishes. Returns
// 0, or the exit status of a stopped run (the study can be resumed).
int run_compare(ComparePlan& plan, bool resume, const Launcher& launch);

// The study's claims, each a paired difference over seeds (positive = the
// claim's direction).
std::vector<Claim> compare_claims(const std::vector<ModelRuns>& rs);
// A claim's 95% interval as the report shows it, "— (one seed)" without one.
std::string ci_text(const PairedDiff& d);

// summary.json and report.md. `total`: this invocation's wall time;
// `study_command`: the command(s) that ran the study; `plot_note`: why
// curves.png is missing ("" when it was written).
void write_compare_summary(const ComparePlan& plan, const std::vector<Claim>& claims, double total,
                           const std::string& path);
void write_compare_report(const ComparePlan& plan, const std::vector<Claim>& claims, double total,
                          const std::string& study_command, const std::string& plot_note, const ReportText& text,
                          const std::string& path);

}  // namespace moco::train
