#include "train/study/ablate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "data/dataset.h"
#include "tensor/error.h"
#include "train/data_setup.h"
#include "train/run_dir.h"

namespace moco::train {

// quick: 8 runs within 30 minutes on a 2-core CPU. 1875 steps are 5 epochs of
// the 24,000 Fashion-MNIST images of the default task at batch 64, where the
// recipe lifts kNN from 63% at init to ~70% (docs/results/recipe-pilots, E8).
// An epoch takes 20-30 s on 2 idle cores (48 s measured at a load of 4), each
// of the two kNN passes ~5 s: 8 x (5 x 30 + 12) s = 22 minutes at the slow end.
AblatePreset ablate_preset(const std::string& name) {
  if (name == "quick") return {8, 1875, 64, 8, 2, 0.06, 0.1, 0.99, 0.5, 1000, 0};
  usage_fail("--preset must be quick, got '{}'", name);
}

AblateWhat ablate_what(const std::string& w) {
  MOCO_USAGE_CHECK(!w.empty(), "--what is required: m, K, T or shuffle-bn (see moco ablate --help)");
  if (w == "m") return {"m", "--moco-m", "m", "the key encoder's momentum", "momentum m (evenly spaced)", false};
  if (w == "K" || w == "k") return {"K", "--moco-k", "K", "the queue size", "queue size K (log scale)", true};
  if (w == "T" || w == "t") return {"T", "--moco-t", "T", "the softmax temperature", "temperature T (log scale)", true};
  if (w == "shuffle-bn")
    return {"shuffle-bn", "--shuffle-bn", "shuffle-BN", "shuffling BN (SplitBatchNorm groups)", "shuffle-BN", false};
  usage_fail("--what must be m, K, T or shuffle-bn, got '{}'", w);
}

std::vector<AblateValue> parse_values(const AblateWhat& w, const std::string& text, int64_t batch, int64_t images) {
  std::vector<AblateValue> out;
  for (const std::string& item : split_list(text)) {
    AblateValue val;
    if (w.name == "shuffle-bn") {
      if (item == "on" || item == "1") val = {"on", "1", 1};
      else if (item == "off" || item == "0") val = {"off", "0", 0};
      else usage_fail("--values: --what shuffle-bn takes on and off, got '{}'", item);
    } else {
      char* end = nullptr;
      const double v = std::strtod(item.c_str(), &end);
      MOCO_USAGE_CHECK(*end == 0 && std::isfinite(v), "--values: '{}' is not a number (--what {} takes numbers)", item,
                       w.name);
      if (w.name == "m") MOCO_USAGE_CHECK(v >= 0 && v <= 1, "--values: m = {} is outside [0, 1]", item);
      if (w.name == "T") MOCO_USAGE_CHECK(v > 0, "--values: T = {} must be positive", item);
      if (w.name == "K") {
        MOCO_USAGE_CHECK(v >= 1 && v == std::floor(v), "--values: K = {} must be a positive integer", item);
        const int64_t k = int64_t(v);
        MOCO_USAGE_CHECK(k % batch == 0, "--values: K = {} must be a multiple of the batch {} (--batch-size)", k,
                         batch);
        MOCO_USAGE_CHECK(k <= images,
                         "--values: K = {} is larger than the {} pretraining images: an image's own earlier key would "
                         "sit in the queue as its negative",
                         k, images);
        val = {std::to_string(k), std::to_string(k), v};
      } else {
        val = {fmt::format("{:g}", v), fmt::format("{:g}", v), v};
      }
    }
    for (auto& o : out) MOCO_USAGE_CHECK(o.label != val.label, "--values: {} is given twice", val.label);
    out.push_back(val);
  }
  MOCO_USAGE_CHECK(out.size() >= 2, "--values: an ablation compares at least 2 values, got {} ('{}')", out.size(),
                   text);
  if (w.name != "shuffle-bn")
    std::sort(out.begin(), out.end(), [](const AblateValue& a, const AblateValue& b) { return a.v < b.v; });
  return out;
}

std::string default_queues(int64_t images, int64_t batch) {
  std::string s;
  int64_t last = 0;
  for (int64_t k = 256; k <= images; k *= 4) {
    const int64_t q = std::max(batch, k / batch * batch);
    if (q > images || q == last) continue;
    s += (s.empty() ? "" : ",") + std::to_string(q);
    last = q;
  }
  MOCO_USAGE_CHECK(s.find(',') != std::string::npos,
                   "--what K: the {} pretraining images allow no range of queue sizes from 256 up (batch {}); give "
                   "--values (multiples of the batch, at most the images)",
                   images, batch);
  return s;
}

namespace {

// What one pretraining run left in its folder.
void read_run(AblateRun& r) {
  for (auto& row : RunDir(r.run.dir).read_metrics()) {
    if (auto k = find_value(row, "knn_top1"); k && *k >= 0) r.knn = *k;
    if (auto v = find_value(row, "inst_top1")) r.pretext = *v;
    if (auto v = find_value(row, "loss")) r.loss = *v;
    if (auto v = find_value(row, "loss_chance")) r.loss_chance = *v;
  }
  r.knn_init = read_number(r.run.dir + "/knn_init.json", "knn_top1", NAN);
  r.steps.clear(), r.pretext_curve.clear();
  for (auto& row : RunDir(r.run.dir).read_rows("steps")) {
    auto s = find_value(row, "step"), v = find_value(row, "inst_top1");
    if (s && v) r.steps.push_back(*s), r.pretext_curve.push_back(*v);
  }
}


}  // namespace

std::vector<double> ValueRuns::get(double AblateRun::*f) const {
  std::vector<double> v;
  for (auto& r : seeds) v.push_back(r.*f);
  return v;
}

AblatePlan plan_ablate(AblateOptions o) {
  AblatePlan plan;
  const AblateWhat w = plan.w = ablate_what(o.what);
  const AblatePreset p = plan.p = ablate_preset(o.preset);
  auto& res = plan.resolved;
  const bool fmnist = o.dataset.rfind("fashion", 0) == 0 || o.dataset == "fmnist";
  if (!o.classes) o.classes = res["classes"] = fmnist ? "0,2,4,6" : "0,1,2,3";
  if (!o.out) o.out = res["out"] = "runs/ablate-" + w.name;
  if (!o.width) o.width = p.width, res["width"] = std::to_string(p.width);
  if (!o.knn_test) o.knn_test = p.knn_test, res["knn-test"] = std::to_string(p.knn_test);
  if (!o.moco_m) o.moco_m = p.m, res["moco-m"] = fmt::format("{:g}", p.m);
  if (!o.moco_t) o.moco_t = p.T, res["moco-t"] = fmt::format("{:g}", p.T);
  if (!o.shuffle_bn) o.shuffle_bn = 1, res["shuffle-bn"] = "1";
  plan.m_fixed = *o.moco_m, plan.t_fixed = *o.moco_t, plan.shuffle_fixed = *o.shuffle_bn;

  // The pretraining images, counted as pretrain's --data-fraction keeps them.
  plan.spec = o.data.empty() ? o.dataset : o.dataset + ":" + o.data;
  data::DatasetPtr task = select_classes(data::open_dataset(plan.spec, "train"), *o.classes);
  std::vector<int64_t> class_sizes(task->classes().size(), 0);
  for (int64_t l : task->labels())
    if (l >= 0 && l < int64_t(class_sizes.size())) ++class_sizes[size_t(l)];
  const double data_fraction = o.data_fraction;
  MOCO_USAGE_CHECK(data_fraction > 0 && data_fraction <= 1, "--data-fraction must be in (0, 1], got {:g}",
                   data_fraction);
  const int64_t images = plan.images = [&] {
    int64_t n_images = 0;
    for (int64_t n : class_sizes) n_images += std::max<int64_t>(1, std::llround(data_fraction * double(n)));
    return n_images;
  }();

  const Budget b = plan.b = fit_budget("MoCo pretraining", "--batch-size", images, o.batch.value_or(p.batch),
                                       bool(o.batch), o.steps.value_or(p.steps), o.epochs.value_or(0), p.bn_splits);
  res["batch-size"] = std::to_string(b.batch);
  plan.k_fixed = fit_queue(images, b.batch, o.moco_k.value_or(0));
  if (!o.values)
    o.values = res["values"] = w.name == "m"   ? "0,0.9,0.99,0.999"
                               : w.name == "K" ? default_queues(images, b.batch)
                               : w.name == "T" ? "0.07,0.1,0.2,0.5"
                                               : "on,off";
  const std::vector<AblateValue> values = parse_values(w, *o.values, b.batch, images);
  if (!o.seeds) {
    o.seeds = std::max<int64_t>(2, p.runs / int64_t(values.size()));
    res["seeds"] = std::to_string(*o.seeds);
  }
  const int64_t seeds = *o.seeds;
  MOCO_USAGE_CHECK(seeds >= 1 && seeds <= 1000, "--seeds must be in [1, 1000], got {}", seeds);

  // The recipe's own value of the ablated setting: the reference the other values are compared with.
  const std::string ref_label = w.name == "m"   ? fmt::format("{:g}", plan.m_fixed)
                                : w.name == "K" ? std::to_string(plan.k_fixed)
                                : w.name == "T" ? fmt::format("{:g}", plan.t_fixed)
                                                : std::string(plan.shuffle_fixed ? "on" : "off");
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i].label == ref_label) plan.ref = i;

  const int64_t E = b.epochs;
  // About 100 rows of the step log a run, for the pretext-accuracy curves.
  const int64_t log_every = std::clamp<int64_t>(b.steps() / 100, 1, 20);
  for (const AblateValue& v : values) {
    ValueRuns vr;
    vr.value = v;
    for (int64_t i = 0; i < seeds; ++i) {
      AblateRun r;
      StudyRun& run = r.run;
      run.command = "pretrain";
      run.label = v.label;
      run.seed = o.first_seed + i;
      run.dir = *o.out + "/" + fmt::format("{}_{}/seed{}", w.name, v.label, run.seed);
      auto setting = [&](const std::string& flag, const std::string& fixed) {
        return flag == w.flag ? v.arg : fixed;
      };
      std::vector<std::string>& argv = run.argv;
      argv = {"--dataset", o.dataset, "--classes", *o.classes, "--data-fraction", fmt::format("{:g}", o.data_fraction),
              "--workers", o.workers, "--threads", o.threads, "--device", o.device};
      if (!o.data.empty()) argv.insert(argv.end(), {"--data", o.data});
      argv.insert(argv.end(),
                  {"--moco-version", "v2", "--mlp=0", "--arch", "resnet18", "--width", std::to_string(*o.width),
                   "--epochs", std::to_string(E), "--batch-size", std::to_string(b.batch), "--lr",
                   fmt::format("{:g}", p.lr), "--crop-min", fmt::format("{:g}", p.crop_min), "--bn-splits",
                   std::to_string(p.bn_splits), "--moco-m", setting("--moco-m", fmt::format("{:g}", plan.m_fixed)),
                   "--moco-k", setting("--moco-k", std::to_string(plan.k_fixed)), "--moco-t",
                   setting("--moco-t", fmt::format("{:g}", plan.t_fixed)), "--shuffle-bn",
                   setting("--shuffle-bn", std::to_string(plan.shuffle_fixed)), "--knn-every", std::to_string(E),
                   "--knn-init", "--log-every", std::to_string(log_every)});
      if (*o.knn_test > 0) argv.insert(argv.end(), {"--knn-test", std::to_string(*o.knn_test)});
      if (o.knn_bank > 0) argv.insert(argv.end(), {"--knn-bank", std::to_string(o.knn_bank)});
      argv.insert(argv.end(), {"--seed", std::to_string(run.seed), "--out", run.dir});
      vr.seeds.push_back(r);
    }
    plan.runs.push_back(vr);
  }
  plan.o = o;
  return plan;
}

int run_ablate(AblatePlan& plan, bool resume, const Launcher& launch) {
  for (size_t i = 0; i < size_t(*plan.o.seeds); ++i)
    for (auto& vr : plan.runs) {
      AblateRun& r = vr.seeds[i];
      r.seconds = 0;
      if (const int rc = launch_run(r.run, resume, launch, r.seconds)) return rc;
      read_run(r);
      MOCO_CHECK(std::isfinite(r.knn), "ablate: {} has no kNN measurement in its metrics", r.run.dir);
    }
  return 0;
}

double ablate_seconds(const AblatePlan& plan) {
  double total = 0;
  for (auto& vr : plan.runs)
    for (auto& r : vr.seeds) total += r.seconds;
  return total;
}

std::vector<PairedDiff> vs_reference(const AblatePlan& plan) {
  std::vector<PairedDiff> out;
  for (auto& vr : plan.runs)
    out.push_back(paired_difference(vr.get(&AblateRun::knn), plan.runs[plan.ref].get(&AblateRun::knn)));
  return out;
}

}  // namespace moco::train
