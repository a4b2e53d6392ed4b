#include "tools/ablate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "data/dataset.h"
#include "nn/json.h"
#include "tensor/backend.h"
#include "tensor/error.h"
#include "tools/args.h"
#include "tools/cli_common.h"
#include "tools/plot.h"
#include "tools/pretrain.h"
#include "train/run_dir.h"
#include "tools/study_budget.h"
#include "train/stop_signal.h"
#include "tools/study_io.h"
#include "tools/study_stats.h"

namespace moco::cli {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// The recipe is `moco compare --preset quick`'s short MoCo pretraining of the
// ResNet (v2 augmentation and cosine lr without the MLP head, T 0.1, crop
// 0.5, lr 0.06, 2 shuffle-BN groups, width 8, batch 64), so the ablations
// start from a setting already known to train at this scale.
struct Preset {
  int64_t runs;   // pretraining runs of the default form: seeds = max(2, runs / values)
  int64_t steps;  // optimiser steps a run (rounded up to whole epochs)
  int64_t batch, width, bn_splits;
  double lr, T, m, crop_min;
  int64_t knn_test, knn_bank;  // 0: all
};

// quick: 8 runs within 30 minutes on a 2-core CPU. 1875 steps are 5 epochs of
// the 24,000 Fashion-MNIST images of the default task at batch 64, where the
// recipe lifts kNN from 63% at init to ~70% (docs/results/recipe-pilots, E8).
// An epoch takes 20-30 s on 2 idle cores (48 s measured at a load of 4), each
// of the two kNN passes ~5 s: 8 x (5 x 30 + 12) s = 22 minutes at the slow end.
Preset preset(const std::string& name) {
  if (name == "quick") return {8, 1875, 64, 8, 2, 0.06, 0.1, 0.99, 0.5, 1000, 0};
  usage_fail("--preset must be quick, got '{}'", name);
}

// One ablated setting: the pretrain flag it varies and how the report names it.
struct What {
  std::string name, flag, symbol, title, axis;
  bool log_axis = false;  // values spread over decades (K, T)
};

What what_of(const std::string& w) {
  if (w == "m") return {"m", "--moco-m", "m", "the key encoder's momentum", "momentum m (evenly spaced)", false};
  if (w == "K" || w == "k") return {"K", "--moco-k", "K", "the queue size", "queue size K (log scale)", true};
  if (w == "T" || w == "t") return {"T", "--moco-t", "T", "the softmax temperature", "temperature T (log scale)", true};
  if (w == "shuffle-bn")
    return {"shuffle-bn", "--shuffle-bn", "shuffle-BN", "shuffling BN (SplitBatchNorm groups)", "shuffle-BN", false};
  usage_fail("--what must be m, K, T or shuffle-bn, got '{}'", w);
}

struct Value {
  std::string label;  // as the report shows it: "0.99", "4096", "on"
  std::string arg;    // the pretrain flag's value
  double v = 0;       // shuffle-bn: 1 on, 0 off
};

// --values for `w`; K must suit the queue: a multiple of the batch, at most
// the pretraining images.
std::vector<Value> parse_values(const What& w, const std::string& text, int64_t batch, int64_t images) {
  std::vector<Value> out;
  for (const std::string& item : split_list(text)) {
    Value val;
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
    std::sort(out.begin(), out.end(), [](const Value& a, const Value& b) { return a.v < b.v; });
  return out;
}

// The queue sizes the data allows: 256, 1024, 4096, ... up to the pretraining
// images, each a multiple of the batch.
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

// What one pretraining run left in its folder.
struct RunResult {
  int64_t seed = 0;
  std::string dir;
  std::vector<std::string> argv;
  double knn = NAN, knn_init = NAN, pretext = NAN, loss = NAN, loss_chance = NAN, seconds = 0;
  std::vector<double> steps, pretext_curve;  // the step log's inst_top1
};

RunResult read_run(RunResult r) {
  for (auto& row : RunDir(r.dir).read_metrics()) {
    if (auto k = find_value(row, "knn_top1"); k && *k >= 0) r.knn = *k;
    if (auto v = find_value(row, "inst_top1")) r.pretext = *v;
    if (auto v = find_value(row, "loss")) r.loss = *v;
    if (auto v = find_value(row, "loss_chance")) r.loss_chance = *v;
  }
  r.knn_init = read_number(r.dir + "/knn_init.json", "knn_top1", NAN);
  r.steps.clear(), r.pretext_curve.clear();
  for (auto& row : RunDir(r.dir).read_rows("steps")) {
    auto s = find_value(row, "step"), v = find_value(row, "inst_top1");
    if (s && v) r.steps.push_back(*s), r.pretext_curve.push_back(*v);
  }
  return r;
}

struct ValueRuns {
  Value value;
  std::vector<RunResult> seeds;
  std::vector<double> get(double RunResult::*f) const {
    std::vector<double> v;
    for (auto& r : seeds) v.push_back(r.*f);
    return v;
  }
  double mean(double RunResult::*f) const { return mean_of(get(f)); }
};

std::string pct(double v) { return std::isfinite(v) ? fmt::format("{:.2f}%", v) : "—"; }

std::string ci_text(const PairedDiff& d) {
  return std::isfinite(d.lo) ? fmt::format("{:+.2f} [{:+.2f}, {:+.2f}]", d.mean, d.lo, d.hi)
                             : fmt::format("{:+.2f} (one seed)", d.mean);
}

// Per seed a - b, and whether every one is below zero.
bool below_in_every_seed(const ValueRuns& a, const ValueRuns& b) {
  for (size_t i = 0; i < a.seeds.size(); ++i)
    if (!(a.seeds[i].knn < b.seeds[i].knn)) return false;
  return true;
}

const ValueRuns* find_label(const std::vector<ValueRuns>& vs, const std::string& label) {
  for (auto& v : vs)
    if (v.value.label == label) return &v;
  return nullptr;
}

// "m = 0 → 52.10%, m = 0.9 → 55.20%, ..."
std::string knn_list(const What& w, const std::vector<ValueRuns>& vs) {
  std::string s;
  for (auto& v : vs)
    s += fmt::format("{}{} = {} → {}", s.empty() ? "" : ", ", w.symbol, v.value.label, pct(v.mean(&RunResult::knn)));
  return s;
}

// The paragraph comparing this run with the paper, from the numbers: what
// the paper found, what came out here, and where the two differ.
std::string paper_vs_here(const What& w, const std::vector<ValueRuns>& vs, size_t ref, int64_t steps, int64_t images,
                          int64_t seeds) {
  size_t best = 0;
  for (size_t i = 0; i < vs.size(); ++i)
    if (vs[i].mean(&RunResult::knn) > vs[best].mean(&RunResult::knn)) best = i;
  const std::string seeds_txt = fmt::format("{} seed{}", seeds, seeds == 1 ? "" : "s");
  std::string here = fmt::format("**Here** (kNN top-1 after {} steps, mean of {}): {}. The best {} here is {}.", steps,
                                 seeds_txt, knn_list(w, vs), w.symbol, vs[best].value.label);
  std::string s;
  if (w.name == "m") {
    s = "**The paper** (MoCo v1, ResNet-50 on ImageNet, linear top-1): m = 0 fails to train, 0.9 → 55.2%, 0.99 → "
        "57.8%, 0.999 → 59.0%, 0.9999 → 58.9%: a slowly moving key encoder is best, 0.999 the best value.\n\n" + here;
    const ValueRuns *zero = find_label(vs, "0"), *r = &vs[ref];
    if (zero && zero != r) {
      const PairedDiff d = paired_difference(zero->get(&RunResult::knn), r->get(&RunResult::knn));
      const bool every = below_in_every_seed(*zero, *r);
      s += fmt::format(" m = 0 against m = {}: {:+.2f} points ({}).", r->value.label, d.mean,
                       every ? "lower in every seed" : "not lower in every seed");
      s += every && d.mean <= -1 ? " As in the paper, m = 0 is clearly worse: with the key encoder a copy of "
                                   "the query encoder at every step, the queue's keys come from many different "
                                   "encoders and stop being comparable."
                                 : " **Unlike the paper**, m = 0 is not clearly worse at this scale.";
      const double l0 = zero->mean(&RunResult::loss), lr = r->mean(&RunResult::loss);
      const double p0 = zero->mean(&RunResult::pretext), pr = r->mean(&RunResult::pretext);
      if (std::isfinite(l0) && std::isfinite(lr)) {
        s += fmt::format(" The pretext task at m = 0: last-epoch loss {:.3f} against {:.3f} at m = {} (uniform "
                         "logits: {:.3f}), pretext accuracy {} against {}",
                         l0, lr, r->value.label, zero->mean(&RunResult::loss_chance), pct(p0), pct(pr));
        s += l0 > lr && p0 < pr ? ": its training itself goes worse, the paper's failure in a milder form."
                                : ": its training itself does not go worse.";
      }
    }
    const ValueRuns* slow = find_label(vs, "0.999");
    if (slow && &vs[best] != slow)
      s += fmt::format(" **Unlike the paper**, m = 0.999 is not the best here: after {} steps its key encoder still "
                       "holds 0.999^{} = {:.1f}% of its random initial weights (m = 0.99: {:.1g}%), while the paper's "
                       "200 epochs at batch 256 are about a million steps.",
                       steps, steps, 100 * std::pow(0.999, double(steps)), 100 * std::pow(0.99, double(steps)));
    else if (slow)
      s += " As in the paper, m = 0.999 is the best value.";
  } else if (w.name == "K") {
    s = "**The paper** (MoCo v1, ImageNet): accuracy grows with the queue size K and saturates for the largest "
        "queues (its default 65536 keys are 5% of ImageNet's 1.28M images).\n\n" + here;
    const ValueRuns &lo = vs.front(), &hi = vs.back();
    bool rising = true;
    for (size_t i = 1; i < vs.size(); ++i)
      rising = rising && vs[i].mean(&RunResult::knn) >= vs[i - 1].mean(&RunResult::knn);
    const double gain = hi.mean(&RunResult::knn) - lo.mean(&RunResult::knn);
    s += fmt::format(" From K = {} to K = {} kNN changes by {:+.2f} points; the largest queue holds {:.0f}% of the {} "
                     "pretraining images.",
                     lo.value.label, hi.value.label, gain, 100.0 * hi.value.v / double(images), images);
    s += rising && gain > 0 ? " As in the paper, a larger queue is better here."
         : gain > 0         ? " Larger queues are better overall, but not at every step of the range (**unlike the "
                              "paper's steady rise**; the spread over seeds may hide it)."
                            : " **Unlike the paper**, a larger queue does not help at this scale.";
  } else if (w.name == "T") {
    s = "**The paper**: MoCo v1 uses T = 0.07 with its linear head; MoCo v2 uses 0.2 with its MLP head. (The runs "
        "here have no MLP head, like v1.)\n\n" + here;
    const double b = vs[best].value.v;
    s += b <= 0.1 ? " The best value is at or below 0.1, near v1's 0.07."
         : b >= 0.2 ? " **Unlike v1's choice**, a higher temperature (v2's range) is best here even without an MLP "
                      "head."
                    : " The best value lies between v1's 0.07 and v2's 0.2.";
  } else {
    s = "**The paper** (§3.3): without shuffling BN, the pretext (instance discrimination) accuracy rises fast — BN "
        "statistics computed over the batch let the query find its positive key — but the representation is "
        "worse.\n\n" + here;
    const ValueRuns *on = find_label(vs, "on"), *off = find_label(vs, "off");
    if (on && off) {
      // Early pretext accuracy: the mean over the first tenth of the step log.
      auto early = [](const ValueRuns& v) {
        std::vector<double> per_seed;
        for (auto& r : v.seeds) {
          if (r.steps.empty()) continue;
          const double until = r.steps.back() / 10;
          double sum = 0;
          int n = 0;
          for (size_t i = 0; i < r.steps.size() && (r.steps[i] <= until || n == 0); ++i)
            sum += r.pretext_curve[i], ++n;
          per_seed.push_back(sum / n);
        }
        return mean_of(per_seed);
      };
      const double p_on = on->mean(&RunResult::pretext), p_off = off->mean(&RunResult::pretext);
      const double k_on = on->mean(&RunResult::knn), k_off = off->mean(&RunResult::knn);
      const double e_on = early(*on), e_off = early(*off);
      s += fmt::format(" Pretext accuracy, off vs on: {} vs {} in the last epoch", pct(p_off), pct(p_on));
      if (std::isfinite(e_on) && std::isfinite(e_off))
        s += fmt::format(", {} vs {} over the first tenth of the steps", pct(e_off), pct(e_on));
      s += p_off > p_on ? " — higher without shuffling, as in the paper."
                        : " — **unlike the paper**, not higher without shuffling.";
      const PairedDiff d = paired_difference(off->get(&RunResult::knn), on->get(&RunResult::knn));
      s += fmt::format(" kNN top-1, off vs on: {} vs {} ({:+.2f} points, 95% CI [{:+.2f}, {:+.2f}]", pct(k_off),
                       pct(k_on), k_off - k_on, d.lo, d.hi);
      s += below_in_every_seed(*off, *on) ? ", lower in every seed)" : ")";
      // The verdict follows the interval, not the sign of the mean alone.
      s += d.hi < 0    ? ": the representation is worse without shuffling, as in the paper."
           : k_off < k_on ? fmt::format(": lower without shuffling on average, the paper's direction, but the interval "
                                        "spans zero — not resolved with {}.",
                                        seeds_txt)
                          : ": **unlike the paper**, the representation is not worse without shuffling at this scale.";
    }
  }
  // The kNN monitor can fall during a short run (see README: two epochs of
  // MoCo do not lift a random encoder); say so when every value ends below it.
  bool all_below = true;
  for (auto& v : vs) all_below = all_below && v.mean(&RunResult::knn) < v.mean(&RunResult::knn_init);
  if (all_below)
    s += fmt::format("\n\nAt this budget no value lifts kNN top-1 above the random-init encoder's ({}): the ranking "
                     "above is among encoders that are all still worse than where they started.",
                     pct(vs[0].mean(&RunResult::knn_init)));
  return s;
}

}  // namespace

int ablate_command(const std::vector<std::string>& argv) {
  Args a("ablate",
         "The MoCo paper's ablations at a small scale: for each value of one setting (--what m | K | T | shuffle-bn) "
         "and each seed, one MoCo pretraining run with everything else fixed, then the kNN top-1 (k 200, T 0.1, "
         "backbone features; at random init and after pretraining) and the pretext accuracy (instance "
         "discrimination top-1, last epoch) per value, mean ± std over seeds. The recipe is `moco compare --preset "
         "quick`'s for the ResNet: MoCo v2 augmentation and cosine lr without the MLP head, ResNet-18 small stem at "
         "width 8, batch 64, T 0.1, m 0.99, 2 shuffle-BN groups, lr 0.06, crop 0.5, queue fitted to the images. "
         "Writes table.md (with a paragraph on where the result agrees with the paper and where it differs), "
         "summary.json, plot.png (kNN and pretext accuracy against the value, and pretext accuracy during "
         "training) and every run's folder. quick: within 30 minutes on a 2-core CPU (8 runs: 4 values x 2 "
         "seeds, or 2 values x 4 seeds for shuffle-bn).");
  const Preset q = preset("quick");
  a.opt("what", "", "the setting to vary: m (key encoder momentum) | K (queue size) | T (temperature) | shuffle-bn")
      .opt("values", "auto",
           "comma-separated values (auto: m 0,0.9,0.99,0.999; K 256,1024,... up to the pretraining images; T "
           "0.07,0.1,0.2,0.5; shuffle-bn on,off)")
      .opt("preset", "quick", "quick (the only one): budgets within 30 minutes on a 2-core CPU")
      .opt("seeds", "auto", fmt::format("seeds per value (auto: {} runs in all, at least 2 seeds)", q.runs))
      .opt("seed", "0", "the first seed; the others follow it (seed, seed+1, ...)")
      .opt("dataset", "fashion-mnist", "fashion-mnist | mnist | cifar10 | cifar100 | stl10 | folder")
      .opt("data", "", "the data set's folder (Fashion-MNIST is found automatically)")
      .opt("classes", "auto", "the task's classes by index or name (auto: 0,2,4,6 on Fashion-MNIST, else 0,1,2,3)")
      .opt("data-fraction", "1", "fraction of each class's training images for pretraining")
      .opt("steps", "auto", fmt::format("optimiser steps a run, rounded up to whole epochs (quick {})", q.steps))
      .opt("epochs", "auto", "epochs a run instead of --steps")
      .opt("batch-size", "auto",
           fmt::format("images per step (quick {}; auto: at most a quarter of the images)", q.batch))
      .opt("width", "auto", fmt::format("ResNet-18 (small stem) base width (quick {})", q.width))
      .opt("moco-m", "auto", fmt::format("key encoder momentum when not ablated (quick {:g})", q.m))
      .opt("moco-k", "auto", "queue size when not ablated (auto: 4096, at most a quarter of the images)")
      .opt("moco-t", "auto", fmt::format("temperature when not ablated (quick {:g})", q.T))
      .opt("shuffle-bn", "auto", "shuffle-BN when not ablated: 1 | 0 (auto: 1)")
      .opt("knn-test", "auto", fmt::format("test images (stratified) the kNN monitor classifies (quick {}; 0: all)",
                                           q.knn_test))
      .opt("knn-bank", "0", "train images in the kNN memory bank (0: all of the task's)")
      .opt("workers", "2", "data loader threads")
      .opt("threads", "0", "CPU threads (0: OMP_NUM_THREADS or all cores)")
      .opt("device", "cpu", "cpu | cuda (cuda:N)")
      .opt("out", "auto",
           "the ablation's folder (auto: runs/ablate-WHAT): table.md, summary.json, plot.png, run folders")
      .flag("overwrite", "redo the study in an --out that holds one, replacing its runs")
      .opt("resume", "", "continue an ablation (its folder): finished runs are kept, unfinished ones resumed");
  if (!a.parse(argv)) return 0;

  if (!a.str("resume").empty()) resume_study_flags(a, "ablation");
  MOCO_USAGE_CHECK(!a.str("what").empty(), "--what is required: m, K, T or shuffle-bn (see moco ablate --help)");
  const What w = what_of(a.str("what"));
  const Preset p = preset(a.str("preset"));
  auto user = [&](const char* name) { return a.str(name) != "auto"; };
  // given(), not user(): a resumed ablation's config.json holds every fixed value, the ablated one too.
  for (const char* fixed : {"moco-m", "moco-k", "moco-t", "shuffle-bn"})
    MOCO_USAGE_CHECK(!(a.given(fixed) && "--" + std::string(fixed) == w.flag),
                     "--{} is what --what {} varies: give its values with --values", fixed, w.name);
  auto def = [&](const char* name, const std::string& v) {
    if (a.str(name) == "auto") a.set(name, v);
  };
  const bool fmnist = a.str("dataset").rfind("fashion", 0) == 0 || a.str("dataset") == "fmnist";
  def("classes", fmnist ? "0,2,4,6" : "0,1,2,3");
  def("out", "runs/ablate-" + w.name);
  def("width", std::to_string(p.width));
  def("knn-test", std::to_string(p.knn_test));
  def("moco-m", fmt::format("{:g}", p.m));
  def("moco-t", fmt::format("{:g}", p.T));
  def("shuffle-bn", "1");
  const double m_fixed = a.real("moco-m", 0, 1), t_fixed = a.real("moco-t", 1e-6);
  const int64_t shuffle_fixed = a.integer("shuffle-bn", 0, 1);
  (void)a.integer("width", 1, 1 << 16);
  const int64_t knn_test = a.integer("knn-test", 0), knn_bank = a.integer("knn-bank", 0);
  const int threads = int(a.integer("threads", 0, 4096));
  if (threads > 0) set_num_threads(threads);
  const Device device = Device::parse(a.str("device"));
  if (!device.is_cpu()) (void)backend_for(device);

  // The pretraining images, counted as pretrain's --data-fraction keeps them.
  const std::string spec = a.str("data").empty() ? a.str("dataset") : a.str("dataset") + ":" + a.str("data");
  data::DatasetPtr task = select_classes(data::open_dataset(spec, "train"), a.str("classes"));
  std::vector<int64_t> class_sizes(task->classes().size(), 0);
  for (int64_t l : task->labels())
    if (l >= 0 && l < int64_t(class_sizes.size())) ++class_sizes[size_t(l)];
  const double data_fraction = a.real("data-fraction");
  MOCO_USAGE_CHECK(data_fraction > 0 && data_fraction <= 1, "--data-fraction must be in (0, 1], got {:g}",
                   data_fraction);
  int64_t images = 0;
  for (int64_t n : class_sizes) images += std::max<int64_t>(1, std::llround(data_fraction * double(n)));

  const bool batch_given = user("batch-size");
  const int64_t given_steps = user("steps") ? a.integer("steps", 1) : 0;
  const int64_t given_epochs = user("epochs") ? a.integer("epochs", 1) : 0;
  const Budget b = fit_budget("MoCo pretraining", "--batch-size", images,
                              batch_given ? a.integer("batch-size", INT64_MIN, INT64_MAX) : p.batch, batch_given,
                              given_steps > 0 ? given_steps : p.steps, given_epochs, p.bn_splits);
  a.set("batch-size", std::to_string(b.batch));
  const int64_t k_fixed = fit_queue(images, b.batch, user("moco-k") ? a.integer("moco-k", 1) : 0);
  if (!user("values"))
    a.set("values", w.name == "m"   ? "0,0.9,0.99,0.999"
                    : w.name == "K" ? default_queues(images, b.batch)
                    : w.name == "T" ? "0.07,0.1,0.2,0.5"
                                    : "on,off");
  const std::vector<Value> values = parse_values(w, a.str("values"), b.batch, images);
  def("seeds", std::to_string(std::max<int64_t>(2, p.runs / int64_t(values.size()))));
  const int64_t seeds = a.integer("seeds", INT64_MIN, INT64_MAX);
  MOCO_USAGE_CHECK(seeds >= 1 && seeds <= 1000, "--seeds must be in [1, 1000], got {}", seeds);
  const int64_t first_seed = a.integer("seed", 0, INT64_MAX - 1000);

  // The recipe's own value of the ablated setting: the reference the other values are compared with.
  const std::string ref_label = w.name == "m"   ? fmt::format("{:g}", m_fixed)
                                : w.name == "K" ? std::to_string(k_fixed)
                                : w.name == "T" ? fmt::format("{:g}", t_fixed)
                                                : std::string(shuffle_fixed ? "on" : "off");
  size_t ref = 0;
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i].label == ref_label) ref = i;

  const std::unique_ptr<RunLock> lock = claim_study_folder(a, a.str("out"));
  const RunDir out(a.str("out"));
  const bool resume = !a.str("resume").empty();
  std::string ablate_command_line = command_line("ablate", argv);
  if (resume) {  // the report shows the command that started the ablation
    const std::string first = read_run_config(out.file("config.json")).command;
    if (!first.empty() && first.find("--resume") == std::string::npos)
      ablate_command_line = first + "\n" + command_line("ablate", argv) + "   # resumed";
  }
  const int64_t E = b.epochs;
  // About 100 rows of the step log a run, for the pretext-accuracy curves.
  const int64_t log_every = std::clamp<int64_t>(b.steps() / 100, 1, 20);
  std::vector<ValueRuns> runs;
  for (const Value& v : values) {
    ValueRuns vr;
    vr.value = v;
    for (int64_t i = 0; i < seeds; ++i) {
      RunResult r;
      r.seed = first_seed + i;
      r.dir = out.file(fmt::format("{}_{}/seed{}", w.name, v.label, r.seed));
      auto setting = [&](const std::string& flag, const std::string& fixed) {
        return flag == w.flag ? v.arg : fixed;
      };
      r.argv = {"--dataset", a.str("dataset"), "--classes", a.str("classes"), "--data-fraction", a.str("data-fraction"),
                "--workers", a.str("workers"), "--threads", a.str("threads"), "--device", a.str("device")};
      if (!a.str("data").empty()) r.argv.insert(r.argv.end(), {"--data", a.str("data")});
      r.argv.insert(r.argv.end(),
                    {"--moco-version", "v2", "--mlp=0", "--arch", "resnet18", "--width", a.str("width"), "--epochs",
                     std::to_string(E), "--batch-size", std::to_string(b.batch), "--lr", fmt::format("{:g}", p.lr),
                     "--crop-min", fmt::format("{:g}", p.crop_min), "--bn-splits", std::to_string(p.bn_splits),
                     "--moco-m", setting("--moco-m", fmt::format("{:g}", m_fixed)), "--moco-k",
                     setting("--moco-k", std::to_string(k_fixed)), "--moco-t",
                     setting("--moco-t", fmt::format("{:g}", t_fixed)), "--shuffle-bn",
                     setting("--shuffle-bn", std::to_string(shuffle_fixed)), "--knn-every", std::to_string(E),
                     "--knn-init", "--log-every", std::to_string(log_every)});
      if (knn_test > 0) r.argv.insert(r.argv.end(), {"--knn-test", std::to_string(knn_test)});
      if (knn_bank > 0) r.argv.insert(r.argv.end(), {"--knn-bank", std::to_string(knn_bank)});
      r.argv.insert(r.argv.end(), {"--seed", std::to_string(r.seed), "--out", r.dir});
      vr.seeds.push_back(r);
    }
    runs.push_back(vr);
  }
  write_study_config(out, a, "ablate", ablate_command_line.substr(0, ablate_command_line.find('\n')));
  std::printf("moco ablate: %s (%s) over %s, %lld seed%s each; %lld steps a run (%lld epochs x %lld of batch %lld) "
              "over %lld images\n",
              w.symbol.c_str(), w.title.c_str(), a.str("values").c_str(), (long long)seeds, seeds == 1 ? "" : "s",
              (long long)b.steps(), (long long)E, (long long)b.steps_per_epoch, (long long)b.batch, (long long)images);
  std::fflush(stdout);

  // Seeds outermost: an ablation stopped early has every value for its first seeds.
  const auto t_start = Clock::now();
  const int64_t n_runs = seeds * int64_t(runs.size());
  int64_t done = 0;
  for (int64_t i = 0; i < seeds; ++i)
    for (auto& vr : runs) {
      RunResult& r = vr.seeds[size_t(i)];
      std::vector<std::string> args = fresh_run_args(r.argv, r.dir);
      double before = 0;
      if (resume && fs::is_regular_file(r.dir + "/checkpoint.safetensors")) {
        args = {"--resume", r.dir};  // the run's own config.json has every flag
        before = read_number(r.dir + "/wall_time.json", "seconds", 0);
      }
      std::printf("\n==== ablate: run %lld of %lld, %s = %s, seed %lld: %s\n", (long long)++done, (long long)n_runs,
                  w.symbol.c_str(), vr.value.label.c_str(), (long long)r.seed, command_line("pretrain", args).c_str());
      std::fflush(stdout);
      const auto t0 = Clock::now();
      const int rc = pretrain_command(args);
      if (rc == stop_exit_code(SIGINT) || rc == stop_exit_code(SIGTERM)) {  // the run saved where it was
        std::printf("moco ablate: stopped — continue the ablation with: moco ablate --resume %s\n",
                    a.str("out").c_str());
        return rc;
      }
      MOCO_CHECK(rc == 0, "ablate: {} failed", command_line("pretrain", args));
      r.seconds = before + std::chrono::duration<double>(Clock::now() - t0).count();
      write_file_atomic(r.dir + "/wall_time.json", fmt::format("{{\"seconds\": {:.3f}}}\n", r.seconds));
      r = read_run(r);
      MOCO_CHECK(std::isfinite(r.knn), "ablate: {} has no kNN measurement in its metrics", r.dir);
    }
  // The runs' own times, which a resumed run carries over: this invocation's alone would undercount.
  double total = 0;
  for (auto& vr : runs)
    for (auto& r : vr.seeds) total += r.seconds;
  std::printf("\n==== ablate: this invocation took %s\n",
              fmt_duration(std::chrono::duration<double>(Clock::now() - t_start).count()).c_str());

  std::vector<PairedDiff> vs_ref;
  for (auto& vr : runs) vs_ref.push_back(paired_difference(vr.get(&RunResult::knn), runs[ref].get(&RunResult::knn)));
  const std::string paragraph = paper_vs_here(w, runs, ref, b.steps(), images, seeds);

  // plot.png: kNN and pretext accuracy against the value, pretext accuracy during training.
  std::vector<double> xs;
  std::vector<std::pair<double, std::string>> tics;
  for (size_t i = 0; i < runs.size(); ++i) {
    xs.push_back(w.log_axis ? runs[i].value.v : double(i));  // m and shuffle-bn: categories, evenly spaced
    tics.emplace_back(xs.back(), runs[i].value.label);
  }
  const std::string band_note = seeds > 1 ? fmt::format(" (mean, band: min-max of {} seeds)", seeds) : "";
  auto value_panel = [&](const std::string& title, const std::string& ylabel) {
    Panel pn{title + band_note, w.axis, ylabel, {}};
    pn.key = "below";  // the values' spread is not known in advance: keep the legend off the data
    pn.xtics = tics;
    pn.logx = w.log_axis;
    pn.xrange = w.log_axis ? fmt::format("[{:g}:{:g}]", xs.front() / 1.5, xs.back() * 1.5)
                           : fmt::format("[-0.5:{}]", double(xs.size()) - 0.5);
    return pn;
  };
  auto per_seed = [&](double RunResult::*f) {  // [seed][value]
    std::vector<std::vector<double>> c(static_cast<size_t>(seeds));
    for (auto& vr : runs)
      for (size_t i = 0; i < vr.seeds.size(); ++i) c[i].push_back(vr.seeds[i].*f);
    return c;
  };
  Panel knn_panel = value_panel("kNN top-1 after pretraining", "kNN top-1 (%)");
  knn_panel.series.push_back(band("after pretraining", "#2ca02c", per_seed(&RunResult::knn), xs));
  Series init = band("at random init", "#7f7f7f", per_seed(&RunResult::knn_init), xs);
  init.dashed = true;
  init.lo.clear(), init.hi.clear();
  knn_panel.series.push_back(init);
  Panel pretext_panel = value_panel("pretext accuracy (instance discrimination), last epoch", "top-1 (%)");
  pretext_panel.series.push_back(band("pretext top-1", "#1f77b4", per_seed(&RunResult::pretext), xs));
  Panel curve_panel{"pretext accuracy during pretraining (mean over seeds, running mean of 5 log rows)", "step",
                    "top-1 (%)", {}};
  const std::vector<std::string> palette = {"#d62728", "#ff7f0e", "#2ca02c", "#1f77b4",
                                            "#9467bd", "#8c564b", "#e377c2", "#17becf"};
  for (size_t i = 0; i < runs.size(); ++i) {
    std::vector<std::vector<double>> curves;
    for (auto& r : runs[i].seeds) {
      // One batch's accuracy is noisy (64 queries): a running mean of 5 rows shows the trend.
      std::vector<double> c(r.pretext_curve.size());
      for (size_t k = 0; k < c.size(); ++k) {
        const size_t from = k >= 4 ? k - 4 : 0;
        double sum = 0;
        for (size_t j = from; j <= k; ++j) sum += r.pretext_curve[j];
        c[k] = sum / double(k - from + 1);
      }
      curves.push_back(c);
    }
    Series s = band(w.symbol + " = " + runs[i].value.label, palette[i % palette.size()], curves,
                    runs[i].seeds[0].steps);
    s.lo.clear(), s.hi.clear();
    s.points = false;
    if (!s.x.empty()) curve_panel.series.push_back(s);
  }
  curve_panel.key = "below";
  std::vector<Panel> panels = {knn_panel, pretext_panel};
  if (!curve_panel.series.empty()) panels.push_back(curve_panel);
  std::string plot_note;
  try {
    plot_png(out.file("plot.png"), panels, 600 * int(panels.size()), 450);
  } catch (const Error& e) {
    plot_note = std::string("plot.png was not written: ") + e.what();
    std::fprintf(stderr, "ablate: %s\n", plot_note.c_str());
  }

  // summary.json
  auto list = [](const std::vector<double>& v) {
    std::string s = "[";
    for (size_t k = 0; k < v.size(); ++k) s += (k ? ", " : "") + json_num(v[k]);
    return s + "]";
  };
  std::string js = fmt::format(
      "{{\n  \"what\": \"{}\",\n  \"flag\": \"{}\",\n  \"preset\": \"{}\",\n  \"seeds\": {},\n  \"first_seed\": {},\n"
      "  \"dataset\": \"{}\",\n  \"classes\": \"{}\",\n  \"images\": {},\n  \"steps\": {},\n  \"epochs\": {},\n"
      "  \"batch\": {},\n  \"reference\": \"{}\",\n  \"fixed\": {{\"moco_m\": {}, \"moco_k\": {}, \"moco_t\": {}, "
      "\"shuffle_bn\": {}}},\n  \"wall_seconds\": {:.1f},\n  \"values\": [",
      w.name, w.flag, json_escape(a.str("preset")), seeds, first_seed, json_escape(spec), json_escape(a.str("classes")),
      images, b.steps(), E, b.batch, runs[ref].value.label, fmt::format("{:g}", m_fixed), k_fixed,
      fmt::format("{:g}", t_fixed), shuffle_fixed ? "true" : "false", total);
  for (size_t i = 0; i < runs.size(); ++i) {
    const ValueRuns& vr = runs[i];
    std::string seed_list = "[";
    for (auto& r : vr.seeds) seed_list += fmt::format("{}{}", seed_list.size() > 1 ? ", " : "", r.seed);
    seed_list += "]";
    js += fmt::format(
        "{}\n    {{\"value\": \"{}\", \"x\": {}, \"seed\": {}, \"knn\": {}, \"knn_mean\": {}, \"knn_std\": {}, "
        "\"knn_init\": {}, \"knn_init_mean\": {}, \"pretext_top1\": {}, \"pretext_top1_mean\": {}, "
        "\"pretext_top1_std\": {}, \"loss\": {}, \"loss_mean\": {}, \"loss_chance\": {}, \"seconds\": {}, "
        "\"vs_reference\": {{\"diff_mean\": {}, \"ci95\": [{}, {}], \"verdict\": \"{}\"}}}}",
        i ? "," : "", vr.value.label, fmt::format("{:g}", vr.value.v), seed_list, list(vr.get(&RunResult::knn)),
        json_num(vr.mean(&RunResult::knn)), json_num(std_of(vr.get(&RunResult::knn))),
        list(vr.get(&RunResult::knn_init)), json_num(vr.mean(&RunResult::knn_init)), list(vr.get(&RunResult::pretext)),
        json_num(vr.mean(&RunResult::pretext)), json_num(std_of(vr.get(&RunResult::pretext))),
        list(vr.get(&RunResult::loss)), json_num(vr.mean(&RunResult::loss)), json_num(vr.mean(&RunResult::loss_chance)),
        list(vr.get(&RunResult::seconds)), json_num(vs_ref[i].mean), json_num(vs_ref[i].lo), json_num(vs_ref[i].hi),
        i == ref ? "reference" : vs_ref[i].verdict);
  }
  js += fmt::format("\n  ],\n  \"paper_vs_here\": \"{}\"\n}}\n", json_escape(paragraph));
  write_file_atomic(out.file("summary.json"), js);

  // table.md
  std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M", std::localtime(&now));
  std::string md = fmt::format("# moco ablate --what {}: {}\n\n", w.name, w.title);
  md += fmt::format(
      "Preset `{}`, {} seed{} per value ({}), {}; {} CPU threads; wall time of all runs {}.\n\nEach run: MoCo "
      "pretraining of a ResNet-18 (small stem, width {}) on `{}` classes {} without labels ({} images), {} steps ({} "
      "epochs x {} of batch {}); MoCo v2 augmentation and cosine lr, no MLP head, lr {:g}, crop {:g}–1, {} shuffle-BN "
      "groups; fixed unless ablated: m {:g}, K {}, T {:g}, shuffle-BN {}. kNN top-1: k 200, T 0.1, backbone "
      "features, the task's training images as the bank, {} test images. Pretext top-1: instance discrimination "
      "(the positive key ranked first among the K + 1), mean over the last epoch.\n\n",
      a.str("preset"), seeds, seeds == 1 ? "" : "s",
      seeds == 1 ? fmt::format("seed {}", first_seed) : fmt::format("seeds {}–{}", first_seed, first_seed + seeds - 1),
      date, get_num_threads(),
      fmt_duration(total), a.str("width"), spec, a.str("classes"), images, b.steps(), E, b.steps_per_epoch, b.batch,
      p.lr, p.crop_min, p.bn_splits, m_fixed, k_fixed, t_fixed, shuffle_fixed ? "on" : "off",
      knn_test > 0 ? std::to_string(knn_test) : std::string("all"));
  md += fmt::format("| {} |", w.symbol);
  for (int64_t i = 0; i < seeds; ++i) md += fmt::format(" kNN seed {} |", first_seed + i);
  md += fmt::format(" kNN mean ± std | vs {} = {} (points, 95% CI) | kNN at init | pretext top-1 | last-epoch loss | "
                    "wall time a run |\n|---|",
                    w.symbol, runs[ref].value.label);
  for (int64_t i = 0; i < seeds; ++i) md += "---|";
  md += "---|---|---|---|---|---|\n";
  for (size_t i = 0; i < runs.size(); ++i) {
    const ValueRuns& vr = runs[i];
    md += fmt::format("| {} |", i == ref ? "**" + vr.value.label + "**" : vr.value.label);
    for (auto& r : vr.seeds) md += " " + pct(r.knn) + " |";
    md += fmt::format(" {} | {} | {} | {} | {} | {} |\n", pm(vr.get(&RunResult::knn)),
                      i == ref ? std::string("reference") : ci_text(vs_ref[i]), pm(vr.get(&RunResult::knn_init)),
                      pm(vr.get(&RunResult::pretext)), pm(vr.get(&RunResult::loss), ""),
                      fmt_duration(mean_of(vr.get(&RunResult::seconds))));
  }
  md += fmt::format("\n*vs {} = {}*: the paired difference of kNN top-1 over seeds (a seed gives every value the same "
                    "initial weights, data order and augmentations), with its 95% interval from Student's t (n − 1 "
                    "degrees of freedom); in bold the recipe's own value.\n\n",
                    w.symbol, runs[ref].value.label);
  md += plot_note.empty() ? "![kNN and pretext accuracy against " + w.symbol + "](plot.png)\n\n"
                          : "(" + plot_note + ")\n\n";
  md += "## Paper vs here\n\n" + paragraph + "\n\n";
  md += "## Commands\n\n```sh\n" + ablate_command_line + "\n```\n\nwhich ran, in this order (each folder holds "
        "config.json, metrics.jsonl, steps.jsonl, knn_init.json and checkpoint.safetensors):\n\n```sh\n";
  for (int64_t i = 0; i < seeds; ++i)
    for (auto& vr : runs) md += command_line("pretrain", vr.seeds[size_t(i)].argv) + "\n";
  md += "```\n";
  write_file_atomic(out.file("table.md"), md);

  std::printf("\n==== ablate: done, runs took %s in all; %s, %s\n\n%-12s %22s %16s %16s\n", fmt_duration(total).c_str(),
              out.file("table.md").c_str(), out.file("summary.json").c_str(), w.symbol.c_str(), "kNN top-1",
              "kNN at init", "pretext top-1");
  for (auto& vr : runs)
    std::printf("%-12s %22s %16s %16s\n", vr.value.label.c_str(), pm(vr.get(&RunResult::knn)).c_str(),
                pm(vr.get(&RunResult::knn_init)).c_str(), pm(vr.get(&RunResult::pretext)).c_str());
  if (plot_note.empty()) std::printf("plot: %s\n", out.file("plot.png").c_str());
  return 0;
}

}  // namespace moco::cli
