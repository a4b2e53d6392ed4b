#include "tools/compare.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>

#include "data/dataset.h"
#include "nn/json.h"
#include "tensor/backend.h"
#include "tensor/error.h"
#include "tools/args.h"
#include "tools/cli_common.h"
#include "tools/plot.h"
#include "tools/pretrain.h"
#include "tools/study_budget.h"
#include "train/stop_signal.h"
#include "tools/study_io.h"
#include "tools/study_stats.h"
#include "tools/supervised.h"

namespace moco::cli {

namespace fs = std::filesystem;

double mean_abs_change(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  double s = 0;
  for (size_t i = 1; i < v.size(); ++i) s += std::abs(v[i] - v[i - 1]);
  return s / double(v.size() - 1);
}

namespace {

using Clock = std::chrono::steady_clock;

// A preset fixes the sizes and the budgets of every run. Budgets are in
// optimiser steps (a preset's *_epochs > 0 fixes epochs instead, as `full`
// keeps the seed's 50 + 50 epochs); study_budget.h turns them into batches
// and epochs that the chosen split can supply.
struct Preset {
  int64_t seeds;
  int64_t steps, epochs;                                // fine-tuning / supervised
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

// quick: `make run`, within 15 minutes on a 2-core CPU for all 3 seeds;
// standard: within 2 hours, sized for confidence intervals that can call the
// claims; full: the seed study's 50 MoCo + 50 fine-tuning epochs.
Preset preset(const std::string& name) {
  if (name == "quick")
    return {3, 300, 0, 3000, 180, 0, 64, 64, 128, 0.1, 1.0, 10, 8, 64, 4, 2, 0, 1000, 1000, 0.06, 0.1, 0.5, 1e-3, 0.5, true, 2, 1};
  if (name == "standard")
    return {5, 1500, 0, 7500, 1500, 0, 64, 64, 128, 0.1, 1.0, 10, 8, 64, 4, 2, 0, 2000, 2000, 0.06, 0.1, 0.5, 1e-3, 0.5, true, 2, 5};
  if (name == "full") return {3, 0, 50, 0, 0, 50, 128, 256, 256, 1.0, 1.0, 10, 16, 128, 6, 4, 0, 0, 0, 0, 0, 0, 0, 0, false, 8, 10};
  usage_fail("--preset must be quick, standard or full, got '{}'", name);
}

// A metrics column; rows without the value (or with the old "not measured"
// -1 of kNN) are skipped.
std::vector<double> column(const RunDir& dir, const std::string& name) {
  std::vector<double> out;
  for (auto& row : dir.read_metrics())
    for (auto& [k, v] : row)
      if (k == name && std::isfinite(v) && !(name == "knn_top1" && v < 0)) out.push_back(v);
  return out;
}

double read_wall(const std::string& dir) { return read_number(dir + "/wall_time.json", "seconds", 0); }

struct SubRun {
  std::string command;  // "pretrain", "train" or "finetune"
  std::vector<std::string> argv;
  std::string dir;
};

// One model trained with one seed.
struct SeedRun {
  int64_t seed = 0;
  SubRun pretrain, finetune;
  double best = 0, final_top1 = 0, smooth = 0, seconds = 0, knn = NAN, knn_init = NAN;
  std::vector<double> loss, val;       // per fine-tuning epoch
  std::vector<double> knn_x, knn_curve;  // pretraining epoch of each kNN measurement (0: random init)
};

struct ModelRuns {
  std::string name, family, version;  // version: the MoCo recipe ("" for supervised)
  bool pretrained = false;
  Budget finetune, pretrain;
  int64_t moco_k = 0, bn_splits = 1;
  std::vector<SeedRun> seeds;
  std::vector<double> get(double SeedRun::*field) const {
    std::vector<double> v;
    for (auto& s : seeds) v.push_back(s.*field);
    return v;
  }
};

std::string fmt_g(double v) { return fmt::format("{:g}", v); }

const ModelRuns* find(const std::vector<ModelRuns>& rs, const std::string& name) {
  for (auto& r : rs)
    if (r.name == name) return &r;
  return nullptr;
}

struct Claim {
  std::string key, text, measure;
  PairedDiff d;
};

// The seed study's three claims, each as a paired difference over seeds
// (positive = the claim's direction). Accuracy claims use the final top-1:
// the best epoch is picked on the validation split itself, which biases it up.
std::vector<Claim> claims(const std::vector<ModelRuns>& rs) {
  std::vector<Claim> out;
  for (const char* fam : {"resnet", "vit"}) {
    const ModelRuns *sup = find(rs, fam), *moco = find(rs, std::string("moco_") + fam);
    if (!sup || !moco) continue;
    out.push_back({fmt::format("moco_{}_vs_{}", fam, fam),
                   fmt::format("MoCo pretraining helps the {}", fam == std::string("resnet") ? "ResNet" : "ViT"),
                   fmt::format("final top-1 of moco_{} − {} (points)", fam, fam),
                   paired_difference(moco->get(&SeedRun::final_top1), sup->get(&SeedRun::final_top1))});
  }
  // Smoother: per seed, the supervised runs' smoothness minus the MoCo runs',
  // averaged over the backbones that ran both (positive = MoCo smoother).
  std::vector<double> sup_s, moco_s;
  bool any = false;
  const size_t n = rs.empty() ? 0 : rs[0].seeds.size();
  for (size_t i = 0; i < n; ++i) {
    double a = 0, b = 0;
    int k = 0;
    for (const char* fam : {"resnet", "vit"}) {
      const ModelRuns *sup = find(rs, fam), *moco = find(rs, std::string("moco_") + fam);
      if (!sup || !moco) continue;
      a += sup->seeds[i].smooth, b += moco->seeds[i].smooth, ++k;
    }
    if (k == 0) break;
    any = true;
    sup_s.push_back(a / k), moco_s.push_back(b / k);
  }
  if (any)
    out.push_back({"smoothness", "MoCo-pretrained models train more smoothly",
                   "smoothness of the supervised runs − the MoCo runs (points, mean over backbones)",
                   paired_difference(sup_s, moco_s)});
  return out;
}

std::string ci_text(const PairedDiff& d) {
  return std::isfinite(d.lo) ? fmt::format("[{:+.2f}, {:+.2f}]", d.lo, d.hi) : std::string("— (one seed)");
}

std::string budget_text(const Budget& b) {
  return fmt::format("{} steps ({} epoch{} x {} of batch {}) over {} images, {} images seen", b.steps(), b.epochs,
                     b.epochs == 1 ? "" : "s", b.steps_per_epoch, b.batch, b.images, b.images_seen());
}

}  // namespace

int compare_command(const std::vector<std::string>& argv) {
  Args a("compare",
         "The seed study: resnet (supervised from scratch), moco_resnet (MoCo-pretrained without labels, then "
         "fine-tuned), vit and moco_vit on a small classification task, all four with the same fine-tuning budget, "
         "each trained with several seeds (a seed sets the weights, the labelled subset, the data order, the "
         "augmentations and the shuffles). Writes report.md (per-seed values, mean ± std, and for each claim of the "
         "study a paired difference with its 95% confidence interval and a verdict), summary.json (the same, "
         "machine-readable), curves.png (mean curves with min-max bands over seeds) and every run's folder. "
         "Budgets are optimiser steps: batches and epochs are fitted to the split's size. Defaults: Fashion-MNIST's "
         "four upper-body garment classes (T-shirt/top, Pullover, Coat, Shirt). 'auto' values come from --preset: "
         "quick (`make run`: within 15 minutes on a 2-core CPU), standard (within 2 hours, the study's verdicts) or "
         "full (50 pretraining + 50 fine-tuning epochs on every label: days on a CPU, or use --device cuda).");
  const Preset q = preset("quick"), s = preset("standard");
  auto both = [&](const char* what, double qv, double sv) {
    return fmt::format("{} (quick {:g}, standard {:g})", what, qv, sv);
  };
  a.opt("preset", "quick", "quick | standard | full")
      .opt("seeds", "auto", both("seeds per model", double(q.seeds), double(s.seeds)))
      .opt("seed", "0", "the first seed; the others follow it (seed, seed+1, ...)")
      .opt("dataset", "fashion-mnist", "fashion-mnist | mnist | cifar10 | cifar100 | stl10 | folder")
      .opt("data", "", "the data set's folder (Fashion-MNIST is found automatically)")
      .opt("classes", "auto", "the task's classes by index or name (auto: 0,2,4,6 on Fashion-MNIST, else 0,1,2,3)")
      .opt("label-fraction", "auto",
           both("fraction of each class's training labels for fine-tuning", q.label_fraction, s.label_fraction))
      .opt("label-floor", "auto",
           both("labelled images kept per class at least (all of a smaller class)", double(q.label_floor),
                double(s.label_floor)))
      .opt("data-fraction", "auto",
           both("fraction of each class's training images for pretraining", q.data_fraction, s.data_fraction))
      .opt("steps", "auto", both("fine-tuning (and supervised) optimiser steps, the same for all four", double(q.steps),
                                 double(s.steps)))
      .opt("epochs", "auto", "fine-tuning epochs instead of --steps (full: 50)")
      .opt("pretrain-steps", "auto",
           fmt::format("MoCo optimiser steps (quick: resnet {}, vit {}; standard: resnet {}, vit {})",
                       q.resnet_pretrain_steps, q.vit_pretrain_steps, s.resnet_pretrain_steps, s.vit_pretrain_steps))
      .opt("pretrain-epochs", "auto", "MoCo pretraining epochs instead of --pretrain-steps (full: 50)")
      .opt("width", "auto", both("ResNet-18 (small stem) base width", double(q.width), double(s.width)))
      .opt("vit-dim", "auto", both("ViT width", double(q.vit_dim), double(s.vit_dim)))
      .opt("vit-depth", "auto", both("ViT blocks", double(q.vit_depth), double(s.vit_depth)))
      .opt("vit-heads", "auto", both("ViT heads", double(q.vit_heads), double(s.vit_heads)))
      .opt("patch-size", "0", "ViT patch side (0: 4 for images up to 64 px, else 16)")
      .opt("batch-size", "auto",
           both("fine-tuning batch (auto: at most a quarter of the labelled images)", double(q.batch), double(s.batch)))
      .opt("pretrain-batch-size", "auto",
           fmt::format("pretraining batch (auto: resnet {}, vit {}; at most a quarter of the images)",
                       q.resnet_pretrain_batch, q.vit_pretrain_batch))
      .opt("moco-k", "auto", "v1/v2 queue size (auto: 4096, at most a quarter of the pretraining images)")
      .opt("moco-resnet", "v2", "MoCo version for the ResNet: v1 | v2 | v3")
      .opt("moco-vit", "v3", "MoCo version for the ViT: v1 | v2 | v3")
      .opt("val-samples", "auto",
           both("test images (stratified) every run is evaluated on each epoch; 0: all", double(q.val_samples),
                double(s.val_samples)))
      .opt("knn-test", "auto", "test images of the kNN monitor (0: all; auto: the --val-samples)")
      .opt("models", "resnet,moco_resnet,vit,moco_vit", "which of the four to run, comma-separated")
      .opt("image-size", "0", "model input side (0: the data set's own)")
      .opt("channels", "0", "model input channels (0: 1 for grayscale data, else 3)")
      .opt("workers", "2", "data loader threads")
      .opt("threads", "0", "CPU threads (0: OMP_NUM_THREADS or all cores)")
      .opt("device", "cpu", "cpu | cuda (cuda:N)")
      .opt("out", "runs/compare", "the study's folder: report.md, summary.json, curves.png, seed*/ run folders")
      .flag("overwrite", "redo the study in an --out that holds one, replacing its runs")
      .opt("resume", "", "continue a study (its folder): finished runs are kept, unfinished ones resumed");
  if (!a.parse(argv)) return 0;

  if (!a.str("resume").empty()) resume_study_flags(a, "compare");
  const Preset p = preset(a.str("preset"));
  // Which flags the user gave (before `auto` is resolved): a given batch must
  // fit the split, an auto one is fitted to it.
  auto user = [&](const char* name) { return a.str(name) != "auto"; };
  const bool batch_given = user("batch-size"), pretrain_batch_given = user("pretrain-batch-size");
  auto def = [&](const char* name, const std::string& v) {
    if (a.str(name) == "auto") a.set(name, v);
  };
  const bool fmnist = a.str("dataset").rfind("fashion", 0) == 0 || a.str("dataset") == "fmnist";
  def("classes", fmnist ? "0,2,4,6" : "0,1,2,3");
  def("seeds", std::to_string(p.seeds));
  def("label-fraction", fmt_g(p.label_fraction));
  def("label-floor", std::to_string(p.label_floor));
  def("data-fraction", fmt_g(p.data_fraction));
  def("width", std::to_string(p.width));
  def("vit-dim", std::to_string(p.vit_dim));
  def("vit-depth", std::to_string(p.vit_depth));
  def("vit-heads", std::to_string(p.vit_heads));
  def("val-samples", std::to_string(p.val_samples));
  def("knn-test", a.str("val-samples"));
  const int64_t seeds = a.integer("seeds", INT64_MIN, INT64_MAX);
  MOCO_USAGE_CHECK(seeds >= 1, "--seeds must be at least 1, got {} (3 or more give a confidence interval)", seeds);
  MOCO_USAGE_CHECK(seeds <= 1000, "--seeds {} is more than 1000", seeds);
  const int64_t first_seed = a.integer("seed", 0, INT64_MAX - 1000);
  const int threads = int(a.integer("threads", 0, 4096));
  if (threads > 0) set_num_threads(threads);
  const Device device = Device::parse(a.str("device"));
  if (!device.is_cpu()) (void)backend_for(device);
  const std::vector<std::string> model_names = split_list(a.str("models"));
  for (auto& m : model_names)
    MOCO_USAGE_CHECK(m == "resnet" || m == "moco_resnet" || m == "vit" || m == "moco_vit",
                     "--models: unknown model '{}' (resnet, moco_resnet, vit, moco_vit)", m);
  MOCO_USAGE_CHECK(!model_names.empty(), "--models: nothing to run");

  // The task and what it can supply: per-class labelled images for
  // fine-tuning, images for pretraining, and budgets fitted to both.
  const std::string spec = a.str("data").empty() ? a.str("dataset") : a.str("dataset") + ":" + a.str("data");
  data::DatasetPtr task = select_classes(data::open_dataset(spec, "train"), a.str("classes"));
  std::vector<int64_t> class_sizes(task->classes().size(), 0);
  for (int64_t l : task->labels())
    if (l >= 0 && l < int64_t(class_sizes.size())) ++class_sizes[size_t(l)];
  const double label_fraction = a.real("label-fraction");
  const double data_fraction = a.real("data-fraction");
  MOCO_USAGE_CHECK(data_fraction > 0 && data_fraction <= 1, "--data-fraction must be in (0, 1], got {:g}",
                   data_fraction);
  const std::vector<int64_t> labelled =
      labelled_per_class(class_sizes, label_fraction, a.integer("label-floor", INT64_MIN, INT64_MAX), task->classes());
  {  // accuracies on a handful of validation images cannot tell the four models apart
    data::DatasetPtr val = select_classes(data::open_dataset(spec, "val"), a.str("classes"));
    std::vector<int64_t> val_sizes(class_sizes.size(), 0);
    for (int64_t l : val->labels())
      if (l >= 0 && l < int64_t(val_sizes.size())) ++val_sizes[size_t(l)];
    for (size_t c = 0; c < val_sizes.size(); ++c)
      MOCO_USAGE_CHECK(val_sizes[c] >= 5,
                       "class '{}' has {} validation image{} in {}: too few for the study (at least 5 a class; "
                       "an accuracy over so few images moves in steps of {:.0f} points)",
                       task->classes()[c], val_sizes[c], val_sizes[c] == 1 ? "" : "s", val->describe(),
                       100.0 / double(std::max<int64_t>(1, val_sizes[c] * int64_t(val_sizes.size()))));
  }
  int64_t n_labelled = 0, n_pretrain = 0;
  for (size_t c = 0; c < class_sizes.size(); ++c) {
    n_labelled += labelled[c];
    n_pretrain += std::max<int64_t>(1, std::llround(data_fraction * double(class_sizes[c])));  // subset_by_fraction's
  }
  auto given_int = [&](const char* name) { return user(name) ? a.integer(name, INT64_MIN, INT64_MAX) : int64_t(0); };
  MOCO_USAGE_CHECK(!user("steps") || a.integer("steps", INT64_MIN, INT64_MAX) >= 1, "--steps must be at least 1");
  MOCO_USAGE_CHECK(!user("epochs") || given_int("epochs") >= 1, "--epochs must be at least 1, got {}",
                   given_int("epochs"));
  MOCO_USAGE_CHECK(!user("pretrain-epochs") || given_int("pretrain-epochs") >= 1,
                   "--pretrain-epochs must be at least 1, got {}", given_int("pretrain-epochs"));
  MOCO_USAGE_CHECK(!user("pretrain-steps") || given_int("pretrain-steps") >= 1, "--pretrain-steps must be at least 1");
  const int64_t ft_epochs = user("epochs") ? given_int("epochs") : user("steps") ? 0 : p.epochs;
  const Budget ft = fit_budget("fine-tuning", "--batch-size", n_labelled,
                               batch_given ? a.integer("batch-size", INT64_MIN, INT64_MAX) : p.batch, batch_given,
                               user("steps") ? given_int("steps") : p.steps, ft_epochs, 1, 4, 8);
  a.set("batch-size", std::to_string(ft.batch));

  // The sub-runs of every model and seed.
  const std::string out_dir = a.str("out");
  const std::unique_ptr<RunLock> lock = claim_study_folder(a, out_dir);
  RunDir out(out_dir);
  const bool resume = !a.str("resume").empty();
  std::string study_command = command_line("compare", argv);
  if (resume) {  // the report shows the command that started the study, and this one
    const std::string first = read_run_config(out.file("config.json")).command;
    if (!first.empty() && first.find("--resume") == std::string::npos)
      study_command = first + "\n" + command_line("compare", argv) + "   # resumed";
  }
  std::vector<std::string> common = {"--dataset", a.str("dataset"), "--classes", a.str("classes"), "--workers",
                                     a.str("workers"), "--threads", a.str("threads"), "--device", a.str("device")};
  if (!a.str("data").empty()) common.insert(common.end(), {"--data", a.str("data")});
  if (a.integer("image-size", 0) > 0) common.insert(common.end(), {"--image-size", a.str("image-size")});
  if (a.integer("channels", 0) > 0) common.insert(common.end(), {"--channels", a.str("channels")});
  auto arch_flags = [&](const std::string& family) {
    if (family == "resnet") return std::vector<std::string>{"--arch", "resnet18", "--width", a.str("width")};
    std::vector<std::string> v = {"--arch",      "vit_tiny",         "--vit-dim",   a.str("vit-dim"),
                                  "--vit-depth", a.str("vit-depth"), "--vit-heads", a.str("vit-heads")};
    if (a.integer("patch-size", 0) > 0) v.insert(v.end(), {"--patch-size", a.str("patch-size")});
    return v;
  };
  auto cat = [](std::vector<std::string> x, const std::vector<std::string>& y) {
    x.insert(x.end(), y.begin(), y.end());
    return x;
  };
  const int64_t val_samples = a.integer("val-samples", 0), knn_test = a.integer("knn-test", 0);

  std::vector<ModelRuns> models;
  for (const std::string& name : model_names) {
    ModelRuns m;
    m.name = name;
    m.family = name.find("resnet") != std::string::npos ? "resnet" : "vit";
    m.pretrained = name.rfind("moco_", 0) == 0;
    m.finetune = ft;
    if (m.pretrained) {
      m.version = a.str(m.family == "resnet" ? "moco-resnet" : "moco-vit");
      MOCO_USAGE_CHECK(m.version == "v1" || m.version == "v2" || m.version == "v3",
                       "--moco-{} must be v1, v2 or v3, got '{}'", m.family, m.version);
      const bool v3 = m.version == "v3";
      const int64_t splits = m.bn_splits = v3 ? 1 : p.bn_splits;
      const int64_t want_batch = pretrain_batch_given ? a.integer("pretrain-batch-size", INT64_MIN, INT64_MAX)
                                 : m.family == "resnet" ? p.resnet_pretrain_batch
                                                        : p.vit_pretrain_batch;
      const int64_t want_steps = user("pretrain-steps") ? given_int("pretrain-steps")
                                 : m.family == "resnet" ? p.resnet_pretrain_steps
                                                        : p.vit_pretrain_steps;
      const int64_t pre_epochs = user("pretrain-epochs") ? given_int("pretrain-epochs")
                                 : user("pretrain-steps") ? 0
                                                          : p.pretrain_epochs;
      m.pretrain = fit_budget(fmt::format("MoCo pretraining of {}", name), "--pretrain-batch-size", n_pretrain,
                              want_batch, pretrain_batch_given, want_steps, pre_epochs, splits, 4, 16);
      if (!v3) m.moco_k = fit_queue(n_pretrain, m.pretrain.batch, given_int("moco-k"));
    }
    for (int64_t i = 0; i < seeds; ++i) {
      SeedRun r;
      r.seed = first_seed + i;
      const std::string seed_dir = out.file(fmt::format("seed{}", r.seed));
      std::vector<std::string> seeded = cat(common, {"--seed", std::to_string(r.seed)});
      std::vector<std::string> ftf = {"--epochs",         std::to_string(ft.epochs),  "--batch-size",
                                      std::to_string(ft.batch), "--label-fraction", a.str("label-fraction"),
                                      "--label-floor",    a.str("label-floor")};
      if (val_samples > 0) ftf.insert(ftf.end(), {"--val-samples", std::to_string(val_samples)});
      if (m.family == "vit") ftf.insert(ftf.end(), {"--warmup-epochs", std::to_string(ft.epochs / 10)});
      if (m.pretrained) {
        r.pretrain.command = "pretrain";
        r.pretrain.dir = seed_dir + "/" + name + "_pretrain";
        const int64_t E = m.pretrain.epochs;
        // kNN at random init, then about knn_points times during pretraining (always after the last epoch).
        std::vector<std::string> pa = {"--moco-version", m.version, "--epochs", std::to_string(E), "--batch-size",
                                       std::to_string(m.pretrain.batch), "--data-fraction", a.str("data-fraction"),
                                       "--knn-every", std::to_string(std::max<int64_t>(1, E / std::max<int64_t>(1, p.knn_points))), "--knn-init",
                                       "--out", r.pretrain.dir};
        if (knn_test > 0) pa.insert(pa.end(), {"--knn-test", std::to_string(knn_test)});
        if (p.knn_bank > 0) pa.insert(pa.end(), {"--knn-bank", std::to_string(p.knn_bank)});
        const bool resnet = m.family == "resnet";
        const double lr = resnet ? p.resnet_lr : p.vit_lr, crop = resnet ? p.resnet_crop_min : p.vit_crop_min;
        if (m.version == "v3") {
          pa.insert(pa.end(), {"--warmup-epochs", std::to_string(E / 10)});
        } else {
          // Without a preset lr: the CIFAR-10 demo's 0.06 for batch 512, scaled linearly.
          pa.insert(pa.end(), {"--lr", fmt_g(lr > 0 ? lr : 0.06 * double(m.pretrain.batch) / 512), "--moco-k",
                               std::to_string(m.moco_k), "--bn-splits", std::to_string(m.bn_splits)});
          if (resnet && p.resnet_t > 0) pa.insert(pa.end(), {"--moco-t", fmt_g(p.resnet_t)});
          if (resnet && p.resnet_no_mlp) pa.push_back("--mlp=0");
        }
        if (m.version == "v3" && lr > 0) pa.insert(pa.end(), {"--lr", fmt_g(lr)});
        if (crop > 0) pa.insert(pa.end(), {"--crop-min", fmt_g(crop)});
        r.pretrain.argv = cat(cat(seeded, arch_flags(m.family)), pa);
        r.finetune.command = "finetune";
        r.finetune.dir = seed_dir + "/" + name;
        r.finetune.argv = cat(cat(seeded, ftf), {"--pretrained", r.pretrain.dir, "--out", r.finetune.dir});
      } else {
        r.finetune.command = "train";
        r.finetune.dir = seed_dir + "/" + name;
        r.finetune.argv = cat(cat(cat(seeded, arch_flags(m.family)), ftf), {"--out", r.finetune.dir});
      }
      m.seeds.push_back(r);
    }
    models.push_back(m);
  }
  write_study_config(out, a, "compare", study_command.substr(0, study_command.find('\n')));
  std::printf("moco compare: preset %s, %lld seed%s, models %s\n  fine-tuning: %s\n", a.str("preset").c_str(),
              (long long)seeds, seeds == 1 ? "" : "s", a.str("models").c_str(), budget_text(ft).c_str());
  for (auto& m : models)
    if (m.pretrained)
      std::printf("  %s pretraining (MoCo %s): %s%s\n", m.name.c_str(), m.version.c_str(),
                  budget_text(m.pretrain).c_str(), m.moco_k ? fmt::format(", queue {}", m.moco_k).c_str() : "");
  std::fflush(stdout);

  // Seeds outermost: a study stopped early has whole seeds, which the
  // statistics can use, rather than all seeds of some models.
  const auto t_start = Clock::now();
  for (int64_t i = 0; i < seeds; ++i)
    for (auto& m : models) {
      SeedRun& r = m.seeds[size_t(i)];
      for (SubRun* sr : {&r.pretrain, &r.finetune}) {
        if (sr->command.empty()) continue;
        std::vector<std::string> args = fresh_run_args(sr->argv, sr->dir);
        const std::string ckpt = sr->dir + "/checkpoint.safetensors";
        double before = 0;
        if (resume && fs::is_regular_file(ckpt)) {
          args = {"--resume", sr->dir};  // the run's own config.json has every flag
          before = read_wall(sr->dir);
        }
        std::printf("\n==== compare: seed %lld (%lld of %lld), %s: %s\n", (long long)r.seed, (long long)i + 1,
                    (long long)seeds, m.name.c_str(), command_line(sr->command, args).c_str());
        std::fflush(stdout);
        const auto t0 = Clock::now();
        const int rc = sr->command == "pretrain"   ? pretrain_command(args)
                       : sr->command == "finetune" ? supervised_command(SupervisedMode::finetune, args)
                                                   : supervised_command(SupervisedMode::train, args);
        if (rc == stop_exit_code(SIGINT) || rc == stop_exit_code(SIGTERM)) {  // the run saved where it was
          std::printf("moco compare: stopped — continue the study with: moco compare --resume %s\n", out_dir.c_str());
          return rc;
        }
        MOCO_CHECK(rc == 0, "compare: {} failed", command_line(sr->command, args));
        const double secs = before + std::chrono::duration<double>(Clock::now() - t0).count();
        write_file_atomic(sr->dir + "/wall_time.json", fmt::format("{{\"seconds\": {:.3f}}}\n", secs));
        r.seconds += secs;
      }
      RunDir fd(r.finetune.dir);
      r.loss = column(fd, "train_loss");
      r.val = column(fd, "val_top1");
      MOCO_CHECK(!r.val.empty(), "compare: {} has no metrics", r.finetune.dir);
      r.best = *std::max_element(r.val.begin(), r.val.end());
      r.final_top1 = r.val.back();
      r.smooth = mean_abs_change(r.val);
      if (m.pretrained) {
        r.knn_init = read_number(r.pretrain.dir + "/knn_init.json", "knn_top1", NAN);
        if (std::isfinite(r.knn_init)) r.knn_x.push_back(0), r.knn_curve.push_back(r.knn_init);
        for (auto& row : RunDir(r.pretrain.dir).read_metrics()) {
          double epoch = NAN, knn = NAN;
          for (auto& [k, v] : row) {
            if (k == "epoch") epoch = v;
            if (k == "knn_top1" && v >= 0) knn = v;  // absent, or -1 in older run folders: not measured
          }
          if (std::isfinite(epoch) && std::isfinite(knn)) r.knn_x.push_back(epoch), r.knn_curve.push_back(knn), r.knn = knn;
        }
      }
    }
  const double total = std::chrono::duration<double>(Clock::now() - t_start).count();
  const std::vector<Claim> cl = claims(models);

  // curves.png: mean curves with min-max bands over seeds.
  auto panel = [](const char* title, const char* xlabel, const char* ylabel) {
    Panel p;
    p.title = title, p.xlabel = xlabel, p.ylabel = ylabel;
    return p;
  };
  std::vector<Panel> panels = {panel("training loss (fine-tuning / supervised)", "epoch", "cross-entropy"),
                               panel("validation top-1", "epoch", "top-1 (%)")};
  Panel knn_panel = panel("MoCo pretraining: kNN top-1 (epoch 0: random init)", "pretraining epoch", "kNN top-1 (%)");
  panels[0].key = "top right";
  const std::map<std::string, std::string> colors = {
      {"resnet", "#1f77b4"}, {"moco_resnet", "#2ca02c"}, {"vit", "#ff7f0e"}, {"moco_vit", "#d62728"}};
  const std::string band_note = seeds > 1 ? fmt::format(" (mean, band: min-max of {} seeds)", seeds) : "";
  for (auto& m : models) {
    std::vector<std::vector<double>> loss, val, knn;
    for (auto& r : m.seeds) loss.push_back(r.loss), val.push_back(r.val), knn.push_back(r.knn_curve);
    panels[0].series.push_back(band(m.name, colors.at(m.name), loss, {}));
    panels[1].series.push_back(band(m.name, colors.at(m.name), val, {}));
    if (m.pretrained) {
      Series k = band(m.name, colors.at(m.name), knn, m.seeds[0].knn_x);
      if (!k.x.empty()) knn_panel.series.push_back(k);
    }
  }
  for (auto& pn : panels) pn.title += band_note;
  if (!knn_panel.series.empty()) {
    knn_panel.title += band_note;
    panels.push_back(knn_panel);
  }
  std::string plot_note;
  try {
    plot_png(out.file("curves.png"), panels, 600 * int(panels.size()), 450);
  } catch (const Error& e) {
    plot_note = std::string("curves.png was not written: ") + e.what();
    std::fprintf(stderr, "compare: %s\n", plot_note.c_str());
  }

  // summary.json
  std::string js = fmt::format("{{\n  \"preset\": \"{}\",\n  \"seeds\": {},\n  \"dataset\": \"{}\",\n  \"classes\": "
                               "\"{}\",\n  \"wall_seconds\": {:.1f},\n  \"models\": {{",
                               json_escape(a.str("preset")), seeds, json_escape(spec), json_escape(a.str("classes")),
                               total);
  for (size_t i = 0; i < models.size(); ++i) {
    const ModelRuns& m = models[i];
    auto list = [](const std::vector<double>& v) {
      std::string s = "[";
      for (size_t k = 0; k < v.size(); ++k) s += (k ? ", " : "") + json_num(v[k]);
      return s + "]";
    };
    const std::vector<double> knn = m.get(&SeedRun::knn), knn0 = m.get(&SeedRun::knn_init);
    js += fmt::format(
        "{}\n    \"{}\": {{\"seeds\": {}, \"best_top1_mean\": {}, \"best_top1_std\": {}, \"final_top1_mean\": {}, "
        "\"final_top1_std\": {}, \"smoothness_mean\": {}, \"smoothness_std\": {}, \"knn_mean\": {}, \"knn_std\": {}, "
        "\"knn_init_mean\": {}, \"steps\": {}, \"epochs\": {}, \"batch\": {}, \"images_seen\": {}, "
        "\"pretrain_steps\": {}, \"pretrain_epochs\": {}, \"pretrain_batch\": {}, \"pretrain_images_seen\": {}, "
        "\"moco_k\": {}, \"per_seed\": {{\"seed\": [",
        i ? "," : "", m.name, m.seeds.size(), json_num(mean_of(m.get(&SeedRun::best))),
        json_num(std_of(m.get(&SeedRun::best))), json_num(mean_of(m.get(&SeedRun::final_top1))),
        json_num(std_of(m.get(&SeedRun::final_top1))), json_num(mean_of(m.get(&SeedRun::smooth))),
        json_num(std_of(m.get(&SeedRun::smooth))), m.pretrained ? json_num(mean_of(knn)) : "null",
        m.pretrained ? json_num(std_of(knn)) : "null", m.pretrained ? json_num(mean_of(knn0)) : "null",
        m.finetune.steps(), m.finetune.epochs, m.finetune.batch, m.finetune.images_seen(),
        m.pretrained ? std::to_string(m.pretrain.steps()) : "null",
        m.pretrained ? std::to_string(m.pretrain.epochs) : "null",
        m.pretrained ? std::to_string(m.pretrain.batch) : "null",
        m.pretrained ? std::to_string(m.pretrain.images_seen()) : "null",
        m.moco_k ? std::to_string(m.moco_k) : "null");
    for (size_t k = 0; k < m.seeds.size(); ++k) js += fmt::format("{}{}", k ? ", " : "", m.seeds[k].seed);
    js += fmt::format("], \"best_top1\": {}, \"final_top1\": {}, \"smoothness\": {}, \"knn\": {}, \"knn_init\": {}, "
                      "\"seconds\": {}}}}}",
                      list(m.get(&SeedRun::best)), list(m.get(&SeedRun::final_top1)), list(m.get(&SeedRun::smooth)),
                      list(knn), list(knn0), list(m.get(&SeedRun::seconds)));
  }
  js += "\n  },\n  \"verdicts\": {";
  for (size_t i = 0; i < cl.size(); ++i)
    js += fmt::format("{}\n    \"{}\": {{\"claim\": \"{}\", \"measure\": \"{}\", \"n\": {}, \"diff_mean\": {}, "
                      "\"diff_std\": {}, \"ci95\": [{}, {}], \"verdict\": \"{}\"}}",
                      i ? "," : "", cl[i].key, json_escape(cl[i].text), json_escape(cl[i].measure), cl[i].d.n,
                      json_num(cl[i].d.mean), json_num(cl[i].d.std), json_num(cl[i].d.lo), json_num(cl[i].d.hi),
                      cl[i].d.verdict);
  js += "\n  }\n}\n";
  write_file_atomic(out.file("summary.json"), js);

  // report.md
  std::string classes;
  for (size_t i = 0; i < task->classes().size(); ++i)
    classes += fmt::format("{}{} ({})", i ? ", " : "", task->classes()[i], split_list(a.str("classes"))[i]);
  std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M", std::localtime(&now));
  std::string md = fmt::format("# moco compare: supervised vs MoCo-pretrained, ResNet vs ViT\n\n"
                               "Preset `{}`, {} seed{} ({}–{}), {}; {} CPU threads; total wall time {}.\n\n",
                               a.str("preset"), seeds, seeds == 1 ? "" : "s", first_seed, first_seed + seeds - 1, date,
                               get_num_threads(), fmt_duration(total));
  md += fmt::format("Data: `{}`, classes {}. Fine-tuning uses {:g}% of each class's training labels (at least {} per "
                    "class): {} labelled images. MoCo pretraining uses {:g}% of the task's training images without "
                    "labels: {} images. Validation: {} of the test split of the same classes (stratified).\n\n",
                    spec, classes, 100 * label_fraction, a.str("label-floor"), n_labelled, 100 * data_fraction,
                    n_pretrain, val_samples > 0 ? fmt::format("{} images", val_samples) : std::string("all"));
  md += "## Verdicts\n\n| claim | measure | mean difference | 95% CI | verdict |\n|---|---|---|---|---|\n";
  for (auto& c : cl)
    md += fmt::format("| {} | {} | {:+.2f} | {} | **{}** |\n", c.text, c.measure, c.d.mean, ci_text(c.d), c.d.verdict);
  md += fmt::format("\nPaired over the {} seeds (a seed gives both models the same labelled images, data order and "
                    "validation images); 95% interval of the mean difference from Student's t with n − 1 degrees of "
                    "freedom. *holds*: the whole interval is above 0; *reversed*: below 0; otherwise *not resolved at "
                    "this budget* (more seeds or longer runs could still call it). Accuracy claims compare the final "
                    "top-1: the best epoch is picked on the validation images themselves, which flatters it.\n\n",
                    seeds);
  md += "## Results (mean ± std over seeds)\n\n| model | pretraining | best top-1 | final top-1 | smoothness | kNN after "
        "pretraining | kNN at init | kNN lift | wall time |\n|---|---|---|---|---|---|---|---|---|\n";
  for (auto& m : models) {
    std::vector<double> lift;
    for (auto& r : m.seeds) lift.push_back(r.knn - r.knn_init);
    double secs = 0;
    for (auto& r : m.seeds) secs += r.seconds;
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", m.name,
                      m.pretrained ? "MoCo " + m.version : std::string("none"), pm(m.get(&SeedRun::best)),
                      pm(m.get(&SeedRun::final_top1)), pm(m.get(&SeedRun::smooth), ""),
                      m.pretrained ? pm(m.get(&SeedRun::knn)) : "—", m.pretrained ? pm(m.get(&SeedRun::knn_init)) : "—",
                      m.pretrained ? pm(lift, " points") : "—", fmt_duration(secs / double(m.seeds.size())) + " a seed");
  }
  md += "\n*smoothness*: the mean absolute change of validation top-1 from one epoch to the next, in points (lower is "
        "smoother). *kNN*: the pretrained encoder's kNN top-1 (k 200, T 0.1, backbone features) on the validation "
        "images; *at init*: the same encoder before pretraining; *lift*: after − at init, per seed.\n\n";
  md += plot_note.empty() ? "![training curves](curves.png)\n\n" : "(" + plot_note + ")\n\n";
  md += "## Per seed\n\n| model | seed | best top-1 | final top-1 | smoothness | kNN after / at init | wall time "
        "|\n|---|---|---|---|---|---|---|\n";
  for (auto& m : models)
    for (auto& r : m.seeds)
      md += fmt::format("| {} | {} | {:.2f}% | {:.2f}% | {:.2f} | {} | {} |\n", m.name, r.seed, r.best, r.final_top1,
                        r.smooth,
                        m.pretrained ? fmt::format("{:.2f}% / {:.2f}%", r.knn, r.knn_init) : std::string("—"),
                        fmt_duration(r.seconds));
  md += "\n## Budgets\n\n| model | run | steps | epochs | batch | images | images seen |\n|---|---|---|---|---|---|---|\n";
  for (auto& m : models) {
    if (m.pretrained)
      md += fmt::format("| {} | MoCo {} pretraining{} | {} | {} | {} | {} | {} |\n", m.name, m.version,
                        m.moco_k ? fmt::format(" (queue {})", m.moco_k) : std::string(), m.pretrain.steps(),
                        m.pretrain.epochs, m.pretrain.batch, m.pretrain.images, m.pretrain.images_seen());
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", m.name, m.pretrained ? "fine-tuning" : "supervised",
                      m.finetune.steps(), m.finetune.epochs, m.finetune.batch, m.finetune.images,
                      m.finetune.images_seen());
  }
  md += "\n## Models\n\n";
  md += fmt::format("* resnet, moco_resnet: ResNet-18 with the small-image stem (3x3 conv, no max-pool), base width "
                    "{}.\n* vit, moco_vit: ViT (patch {}, width {}, depth {}, {} heads), cls token, fixed 2-D sin-cos "
                    "position embedding.\n* Fine-tuning and supervised training: ResNets SGD (momentum 0.9, lr 0.1 x "
                    "batch/256, wd 5e-4, cosine), ViTs AdamW (lr 5e-4 x batch/512, wd 0.05, warm-up then cosine).\n\n",
                    a.str("width"), a.integer("patch-size", 0) > 0 ? a.str("patch-size") : std::string("4 (auto)"),
                    a.str("vit-dim"), a.str("vit-depth"), a.str("vit-heads"));
  md += "## Commands\n\nThe study:\n\n```sh\n" + study_command +
        "\n```\n\nwhich ran, in this order (each folder holds config.json, metrics.jsonl / metrics.csv and "
        "checkpoint.safetensors):\n\n```sh\n";
  for (int64_t i = 0; i < seeds; ++i)
    for (auto& m : models)
      for (const SubRun* sr : {&m.seeds[size_t(i)].pretrain, &m.seeds[size_t(i)].finetune})
        if (!sr->command.empty()) md += command_line(sr->command, sr->argv) + "\n";
  md += "```\n";
  write_file_atomic(out.file("report.md"), md);

  std::printf("\n==== compare: done in %s; %s, %s\n\n", fmt_duration(total).c_str(), out.file("report.md").c_str(),
              out.file("summary.json").c_str());
  std::printf("%-12s %18s %18s %14s %22s\n", "model", "best top-1", "final top-1", "smoothness", "kNN (at init)");
  for (auto& m : models)
    std::printf("%-12s %18s %18s %14s %22s\n", m.name.c_str(), pm(m.get(&SeedRun::best)).c_str(),
                pm(m.get(&SeedRun::final_top1)).c_str(), pm(m.get(&SeedRun::smooth), "").c_str(),
                m.pretrained ? fmt::format("{} ({})", pm(m.get(&SeedRun::knn)), pm(m.get(&SeedRun::knn_init))).c_str()
                             : "—");
  for (auto& c : cl)
    std::printf("%s: %+.2f, 95%% CI %s: %s\n", c.text.c_str(), c.d.mean, ci_text(c.d).c_str(), c.d.verdict.c_str());
  if (plot_note.empty()) std::printf("curves: %s\n", out.file("curves.png").c_str());
  return 0;
}

}  // namespace moco::cli
