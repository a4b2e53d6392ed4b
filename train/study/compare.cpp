#include "train/study/compare.h"

#include <fmt/format.h>

#include <algorithm>

#include "data/dataset.h"
#include "tensor/error.h"
#include "train/data_setup.h"
#include "train/run_dir.h"

namespace moco::train {

// quick: `make run`, within 15 minutes on a 2-core CPU for all 3 seeds;
// standard: within 2 hours, sized for confidence intervals that can call the
// claims; full: the seed study's 50 MoCo + 50 fine-tuning epochs.
ComparePreset compare_preset(const std::string& name) {
  if (name == "quick")
    return {3, 300, 0, 3000, 180, 0, 64, 64, 128, 0.1, 1.0, 10, 8, 64, 4, 2, 0, 1000, 1000, 0.06, 0.1, 0.5, 1e-3, 0.5, true, 2, 1};
  if (name == "standard")
    return {5, 1500, 0, 7500, 1500, 0, 64, 64, 128, 0.1, 1.0, 10, 8, 64, 4, 2, 0, 2000, 2000, 0.06, 0.1, 0.5, 1e-3, 0.5, true, 2, 5};
  if (name == "full") return {3, 0, 50, 0, 0, 50, 128, 256, 256, 1.0, 1.0, 10, 16, 128, 6, 4, 0, 0, 0, 0, 0, 0, 0, 0, false, 8, 10};
  usage_fail("--preset must be quick, standard or full, got '{}'", name);
}

double mean_abs_change(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  double s = 0;
  for (size_t i = 1; i < v.size(); ++i) s += std::abs(v[i] - v[i - 1]);
  return s / double(v.size() - 1);
}

std::vector<double> ModelRuns::get(double SeedRun::*field) const {
  std::vector<double> v;
  for (auto& s : seeds) v.push_back(s.*field);
  return v;
}

std::vector<const StudyRun*> ComparePlan::order() const {
  std::vector<const StudyRun*> out;
  const size_t n = models.empty() ? 0 : models[0].seeds.size();
  for (size_t i = 0; i < n; ++i)
    for (auto& m : models)
      for (const StudyRun* r : {&m.seeds[i].pretrain, &m.seeds[i].finetune})
        if (!r->command.empty()) out.push_back(r);
  return out;
}

namespace {

std::string fmt_g(double v) { return fmt::format("{:g}", v); }

// A metrics column; rows without the value (or with the old "not measured"
// -1 of kNN) are skipped.
std::vector<double> column(const RunDir& dir, const std::string& name) {
  std::vector<double> out;
  for (auto& row : dir.read_metrics())
    for (auto& [k, v] : row)
      if (k == name && std::isfinite(v) && !(name == "knn_top1" && v < 0)) out.push_back(v);
  return out;
}

std::vector<int64_t> class_sizes_of(const data::Dataset& ds) {
  std::vector<int64_t> sizes(ds.classes().size(), 0);
  for (int64_t l : ds.labels())
    if (l >= 0 && l < int64_t(sizes.size())) ++sizes[size_t(l)];
  return sizes;
}

std::vector<std::string> cat(std::vector<std::string> x, const std::vector<std::string>& y) {
  x.insert(x.end(), y.begin(), y.end());
  return x;
}

// The sub-runs of model `m` for one seed: their flags and folders.
SeedRun seed_runs(const ComparePlan& plan, const ModelRuns& m, int64_t seed) {
  const CompareOptions& o = plan.o;
  const ComparePreset& p = plan.p;
  const Budget& ft = plan.finetune;
  SeedRun r;
  r.seed = seed;
  const std::string seed_dir = o.out + "/" + fmt::format("seed{}", r.seed);
  std::vector<std::string> common = {"--dataset", o.dataset, "--classes", *o.classes, "--workers", o.workers,
                                     "--threads", o.threads, "--device",  o.device};
  if (!o.data.empty()) common.insert(common.end(), {"--data", o.data});
  if (o.image_size > 0) common.insert(common.end(), {"--image-size", std::to_string(o.image_size)});
  if (o.channels > 0) common.insert(common.end(), {"--channels", std::to_string(o.channels)});
  std::vector<std::string> arch = {"--arch", "resnet18", "--width", std::to_string(*o.width)};
  if (m.family == "vit") {
    arch = {"--arch",      "vit_tiny",       "--vit-dim",   std::to_string(*o.vit_dim),
            "--vit-depth", std::to_string(*o.vit_depth), "--vit-heads", std::to_string(*o.vit_heads)};
    if (o.patch_size > 0) arch.insert(arch.end(), {"--patch-size", std::to_string(o.patch_size)});
  }
  const std::vector<std::string> seeded = cat(common, {"--seed", std::to_string(r.seed)});
  std::vector<std::string> ftf = {"--epochs",         std::to_string(ft.epochs),  "--batch-size",
                                  std::to_string(ft.batch), "--label-fraction", fmt_g(*o.label_fraction),
                                  "--label-floor",    std::to_string(*o.label_floor)};
  if (*o.val_samples > 0) ftf.insert(ftf.end(), {"--val-samples", std::to_string(*o.val_samples)});
  if (m.family == "vit") ftf.insert(ftf.end(), {"--warmup-epochs", std::to_string(ft.epochs / 10)});
  r.finetune.dir = seed_dir + "/" + m.name;
  r.pretrain.seed = r.finetune.seed = seed;
  r.pretrain.label = r.finetune.label = m.name;
  if (!m.pretrained) {
    r.finetune.command = "train";
    r.finetune.argv = cat(cat(cat(seeded, arch), ftf), {"--out", r.finetune.dir});
    return r;
  }
  r.pretrain.command = "pretrain";
  r.pretrain.dir = seed_dir + "/" + m.name + "_pretrain";
  const int64_t E = m.pretrain.epochs;
  // kNN at random init, then about knn_points times during pretraining (always after the last epoch).
  std::vector<std::string> pa = {"--moco-version", m.version, "--epochs", std::to_string(E), "--batch-size",
                                 std::to_string(m.pretrain.batch), "--data-fraction", fmt_g(*o.data_fraction),
                                 "--knn-every", std::to_string(std::max<int64_t>(1, E / std::max<int64_t>(1, p.knn_points))),
                                 "--knn-init", "--out", r.pretrain.dir};
  if (*o.knn_test > 0) pa.insert(pa.end(), {"--knn-test", std::to_string(*o.knn_test)});
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
  r.pretrain.argv = cat(cat(seeded, arch), pa);
  r.finetune.command = "finetune";
  r.finetune.argv = cat(cat(seeded, ftf), {"--pretrained", r.pretrain.dir, "--out", r.finetune.dir});
  return r;
}

// What model `m`'s seed `r` left in its run folders.
void read_seed(const ModelRuns& m, SeedRun& r) {
  RunDir fd(r.finetune.dir);
  r.loss = column(fd, "train_loss");
  r.val = column(fd, "val_top1");
  MOCO_CHECK(!r.val.empty(), "compare: {} has no metrics", r.finetune.dir);
  r.best = *std::max_element(r.val.begin(), r.val.end());
  r.final_top1 = r.val.back();
  r.smooth = mean_abs_change(r.val);
  if (!m.pretrained) return;
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

const ModelRuns* find(const std::vector<ModelRuns>& rs, const std::string& name) {
  for (auto& r : rs)
    if (r.name == name) return &r;
  return nullptr;
}

}  // namespace

ComparePlan plan_compare(CompareOptions o) {
  ComparePlan plan;
  const ComparePreset p = plan.p = compare_preset(o.preset);
  auto& res = plan.resolved;
  const bool fmnist = o.dataset.rfind("fashion", 0) == 0 || o.dataset == "fmnist";
  if (!o.classes) o.classes = res["classes"] = fmnist ? "0,2,4,6" : "0,1,2,3";
  auto def = [&](auto& field, auto v, const char* flag, std::string text) {
    if (!field) field = v, res[flag] = text;
  };
  def(o.seeds, p.seeds, "seeds", std::to_string(p.seeds));
  def(o.label_fraction, p.label_fraction, "label-fraction", fmt_g(p.label_fraction));
  def(o.label_floor, p.label_floor, "label-floor", std::to_string(p.label_floor));
  def(o.data_fraction, p.data_fraction, "data-fraction", fmt_g(p.data_fraction));
  def(o.width, p.width, "width", std::to_string(p.width));
  def(o.vit_dim, p.vit_dim, "vit-dim", std::to_string(p.vit_dim));
  def(o.vit_depth, p.vit_depth, "vit-depth", std::to_string(p.vit_depth));
  def(o.vit_heads, p.vit_heads, "vit-heads", std::to_string(p.vit_heads));
  def(o.val_samples, p.val_samples, "val-samples", std::to_string(p.val_samples));
  def(o.knn_test, *o.val_samples, "knn-test", std::to_string(*o.val_samples));
  const int64_t seeds = *o.seeds;
  MOCO_USAGE_CHECK(seeds >= 1, "--seeds must be at least 1, got {} (3 or more give a confidence interval)", seeds);
  MOCO_USAGE_CHECK(seeds <= 1000, "--seeds {} is more than 1000", seeds);
  for (auto& m : o.models)
    MOCO_USAGE_CHECK(m == "resnet" || m == "moco_resnet" || m == "vit" || m == "moco_vit",
                     "--models: unknown model '{}' (resnet, moco_resnet, vit, moco_vit)", m);
  MOCO_USAGE_CHECK(!o.models.empty(), "--models: nothing to run");

  // The task and what it can supply: per-class labelled images for
  // fine-tuning, images for pretraining, and budgets fitted to both.
  plan.spec = o.data.empty() ? o.dataset : o.dataset + ":" + o.data;
  data::DatasetPtr task = select_classes(data::open_dataset(plan.spec, "train"), *o.classes);
  plan.class_names = task->classes();
  const std::vector<int64_t> class_sizes = class_sizes_of(*task);
  const double data_fraction = *o.data_fraction;
  MOCO_USAGE_CHECK(data_fraction > 0 && data_fraction <= 1, "--data-fraction must be in (0, 1], got {:g}",
                   data_fraction);
  const std::vector<int64_t> labelled =
      labelled_per_class(class_sizes, *o.label_fraction, *o.label_floor, task->classes());
  {  // accuracies on a handful of validation images cannot tell the four models apart
    data::DatasetPtr val = select_classes(data::open_dataset(plan.spec, "val"), *o.classes);
    std::vector<int64_t> val_sizes = class_sizes_of(*val);
    val_sizes.resize(class_sizes.size(), 0);
    for (size_t c = 0; c < val_sizes.size(); ++c)
      MOCO_USAGE_CHECK(val_sizes[c] >= 5,
                       "class '{}' has {} validation image{} in {}: too few for the study (at least 5 a class; "
                       "an accuracy over so few images moves in steps of {:.0f} points)",
                       task->classes()[c], val_sizes[c], val_sizes[c] == 1 ? "" : "s", val->describe(),
                       100.0 / double(std::max<int64_t>(1, val_sizes[c] * int64_t(val_sizes.size()))));
  }
  for (size_t c = 0; c < class_sizes.size(); ++c) {
    plan.n_labelled += labelled[c];
    plan.n_pretrain += std::max<int64_t>(1, std::llround(data_fraction * double(class_sizes[c])));  // subset_by_fraction's
  }
  MOCO_USAGE_CHECK(!o.steps || *o.steps >= 1, "--steps must be at least 1");
  MOCO_USAGE_CHECK(!o.epochs || *o.epochs >= 1, "--epochs must be at least 1, got {}", *o.epochs);
  MOCO_USAGE_CHECK(!o.pretrain_epochs || *o.pretrain_epochs >= 1, "--pretrain-epochs must be at least 1, got {}",
                   *o.pretrain_epochs);
  MOCO_USAGE_CHECK(!o.pretrain_steps || *o.pretrain_steps >= 1, "--pretrain-steps must be at least 1");
  const int64_t ft_epochs = o.epochs ? *o.epochs : o.steps ? 0 : p.epochs;
  const Budget ft = plan.finetune = fit_budget("fine-tuning", "--batch-size", plan.n_labelled, o.batch.value_or(p.batch),
                                               bool(o.batch), o.steps.value_or(p.steps), ft_epochs, 1, 4, 8);
  res["batch-size"] = std::to_string(ft.batch);

  for (const std::string& name : o.models) {
    ModelRuns m;
    m.name = name;
    m.family = name.find("resnet") != std::string::npos ? "resnet" : "vit";
    m.pretrained = name.rfind("moco_", 0) == 0;
    m.finetune = ft;
    if (m.pretrained) {
      m.version = m.family == "resnet" ? o.moco_resnet : o.moco_vit;
      MOCO_USAGE_CHECK(m.version == "v1" || m.version == "v2" || m.version == "v3",
                       "--moco-{} must be v1, v2 or v3, got '{}'", m.family, m.version);
      const bool v3 = m.version == "v3";
      const int64_t splits = m.bn_splits = v3 ? 1 : p.bn_splits;
      const bool resnet = m.family == "resnet";
      const int64_t want_batch = o.pretrain_batch.value_or(resnet ? p.resnet_pretrain_batch : p.vit_pretrain_batch);
      const int64_t want_steps = o.pretrain_steps.value_or(resnet ? p.resnet_pretrain_steps : p.vit_pretrain_steps);
      const int64_t pre_epochs = o.pretrain_epochs ? *o.pretrain_epochs : o.pretrain_steps ? 0 : p.pretrain_epochs;
      m.pretrain = fit_budget(fmt::format("MoCo pretraining of {}", name), "--pretrain-batch-size", plan.n_pretrain,
                              want_batch, bool(o.pretrain_batch), want_steps, pre_epochs, splits, 4, 16);
      if (!v3) m.moco_k = fit_queue(plan.n_pretrain, m.pretrain.batch, o.moco_k.value_or(0));
    }
    plan.models.push_back(m);
  }
  plan.o = o;
  for (auto& m : plan.models)
    for (int64_t i = 0; i < seeds; ++i) m.seeds.push_back(seed_runs(plan, m, o.first_seed + i));
  return plan;
}

int run_compare(ComparePlan& plan, bool resume, const Launcher& launch) {
  for (size_t i = 0; i < size_t(*plan.o.seeds); ++i)
    for (auto& m : plan.models) {
      SeedRun& r = m.seeds[i];
      for (StudyRun* sr : {&r.pretrain, &r.finetune}) {
        if (sr->command.empty()) continue;
        if (const int rc = launch_run(*sr, resume, launch, r.seconds)) return rc;
      }
      read_seed(m, r);
    }
  return 0;
}

// Accuracy claims use the final top-1: the best epoch is picked on the
// validation split itself, which biases it up.
std::vector<Claim> compare_claims(const std::vector<ModelRuns>& rs) {
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

}  // namespace moco::train
