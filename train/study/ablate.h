// The MoCo v1 paper's ablations at a small scale (`moco ablate --what m|K|T|
// shuffle-bn`): for each value of one setting and each seed, one MoCo
// pretraining run (the short MoCo v2 ResNet recipe of the seed study's quick
// preset, everything but the ablated setting fixed), measuring kNN top-1 at
// random init and at the end and the pretext (instance discrimination)
// accuracy. Here: the preset, the values and their defaults, the plan of
// runs, running it through a Launcher, reading the run folders back, the
// paired differences against the recipe's own value, the paragraph comparing
// the result with the paper, summary.json and table.md.
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

// The recipe is the seed study's quick short MoCo pretraining of the ResNet
// (v2 augmentation and cosine lr without the MLP head, T 0.1, crop 0.5, lr
// 0.06, 2 shuffle-BN groups, width 8, batch 64), so the ablations start from
// a setting already known to train at this scale.
struct AblatePreset {
  int64_t runs;   // pretraining runs of the default form: seeds = max(2, runs / values)
  int64_t steps;  // optimiser steps a run (rounded up to whole epochs)
  int64_t batch, width, bn_splits;
  double lr, T, m, crop_min;
  int64_t knn_test, knn_bank;  // 0: all
};

// quick (the only one); anything else is a usage error naming --preset.
AblatePreset ablate_preset(const std::string& name);

// One ablated setting: the pretrain flag it varies and how the report names it.
struct AblateWhat {
  std::string name, flag, symbol, title, axis;
  bool log_axis = false;  // values spread over decades (K, T)
};
// m | K | T | shuffle-bn (k and t too); anything else is a usage error naming --what.
AblateWhat ablate_what(const std::string& w);

struct AblateValue {
  std::string label;  // as the report shows it: "0.99", "4096", "on"
  std::string arg;    // the pretrain flag's value
  double v = 0;       // shuffle-bn: 1 on, 0 off
};

// --values for `w` (sorted, except shuffle-bn); K must suit the queue: a
// multiple of the batch, at most the pretraining images.
std::vector<AblateValue> parse_values(const AblateWhat& w, const std::string& text, int64_t batch, int64_t images);
// The queue sizes the data allows: 256, 1024, 4096, ... up to the pretraining
// images, each a multiple of the batch.
std::string default_queues(int64_t images, int64_t batch);

// The ablation's settings as the flags give them; an empty optional is "auto".
struct AblateOptions {
  std::string what, preset = "quick";
  std::optional<std::string> values, classes, out;
  std::optional<int64_t> seeds, steps, epochs, batch, width, moco_k, shuffle_bn, knn_test;
  std::optional<double> moco_m, moco_t;
  int64_t first_seed = 0, knn_bank = 0;
  std::string dataset = "fashion-mnist", data;
  double data_fraction = 1;
  std::string workers = "2", threads = "0", device = "cpu";  // passed to every run as given
};

// One pretraining run, and what its folder held once it ran.
struct AblateRun {
  StudyRun run;
  double knn = NAN, knn_init = NAN, pretext = NAN, loss = NAN, loss_chance = NAN, seconds = 0;
  std::vector<double> steps, pretext_curve;  // the step log's inst_top1
};

struct ValueRuns {
  AblateValue value;
  std::vector<AblateRun> seeds;
  std::vector<double> get(double AblateRun::*f) const;
  double mean(double AblateRun::*f) const { return mean_of(get(f)); }
};

struct AblatePlan {
  AblateOptions o;  // every "auto" resolved
  AblatePreset p;
  AblateWhat w;
  std::string spec;  // the data set as open_dataset takes it
  int64_t images = 0;
  Budget b;
  double m_fixed = 0, t_fixed = 0;
  int64_t k_fixed = 0, shuffle_fixed = 1;
  size_t ref = 0;  // the recipe's own value of the ablated setting: the reference of the differences
  std::vector<ValueRuns> runs;
  // The flags "auto" resolved to, by name (what the ablation's config.json records).
  std::map<std::string, std::string> resolved;
};

// Counts the pretraining images, fits the budget and the queue, resolves the
// values and the seeds and lays out every run; usage errors name the flag.
// Writes nothing.
AblatePlan plan_ablate(AblateOptions o);

// Runs every run not yet done (seeds outermost: an ablation stopped early
// has every value for its first seeds), reading each back as it finishes.
// Returns 0, or the exit status of a stopped run.
int run_ablate(AblatePlan& plan, bool resume, const Launcher& launch);

// The runs' own times, which a resumed run carries over.
double ablate_seconds(const AblatePlan& plan);

// Each value's paired kNN difference against the reference value.
std::vector<PairedDiff> vs_reference(const AblatePlan& plan);
// The paragraph comparing this ablation with the paper, from the numbers:
// what the paper found, what came out here, and where the two differ.
std::string paper_vs_here(const AblatePlan& plan);

// summary.json and table.md; `ablate_command`: the command(s) that ran the
// ablation; `plot_note`: why plot.png is missing ("" when it was written).
void write_ablate_summary(const AblatePlan& plan, const std::string& path);
void write_ablate_table(const AblatePlan& plan, const std::string& ablate_command, const std::string& plot_note,
                        const ReportText& text, const std::string& path);

}  // namespace moco::train
