#include "tools/ablate.h"

#include <chrono>
#include <cstdio>

#include "tensor/error.h"
#include "tools/args.h"
#include "tools/cli_common.h"
#include "tools/plot.h"
#include "tools/study_io.h"
#include "train/study/ablate.h"

namespace moco::cli {

namespace {

// The flags as the ablation's options: "auto" stays unset.
AblateOptions ablate_options(const Args& a) {
  auto opt_int = [&](const char* n, int64_t lo, int64_t hi) {
    return a.str(n) == "auto" ? std::nullopt : std::optional(a.integer(n, lo, hi));
  };
  auto opt_real = [&](const char* n, double lo, double hi) {
    return a.str(n) == "auto" ? std::nullopt : std::optional(a.real(n, lo, hi));
  };
  AblateOptions o;
  o.what = a.str("what"), o.preset = a.str("preset");
  if (a.str("values") != "auto") o.values = a.str("values");
  if (a.str("classes") != "auto") o.classes = a.str("classes");
  if (a.str("out") != "auto") o.out = a.str("out");
  o.moco_m = opt_real("moco-m", 0, 1), o.moco_t = opt_real("moco-t", 1e-6, 1e300);
  o.shuffle_bn = opt_int("shuffle-bn", 0, 1), o.width = opt_int("width", 1, 1 << 16);
  o.knn_test = opt_int("knn-test", 0, INT64_MAX), o.knn_bank = a.integer("knn-bank", 0);
  o.dataset = a.str("dataset"), o.data = a.str("data"), o.data_fraction = a.real("data-fraction");
  o.batch = opt_int("batch-size", INT64_MIN, INT64_MAX), o.steps = opt_int("steps", 1, INT64_MAX);
  o.epochs = opt_int("epochs", 1, INT64_MAX), o.moco_k = opt_int("moco-k", 1, INT64_MAX);
  o.seeds = opt_int("seeds", INT64_MIN, INT64_MAX), o.first_seed = a.integer("seed", 0, INT64_MAX - 1000);
  o.workers = a.str("workers"), o.threads = a.str("threads"), o.device = a.str("device");
  return o;
}

// plot.png: kNN and pretext accuracy against the value, pretext accuracy during
// training. Returns why it was not written ("" when it was).
std::string ablate_plot(const AblatePlan& plan, const std::string& png) {
  const AblateWhat& w = plan.w;
  const std::vector<ValueRuns>& runs = plan.runs;
  const int64_t seeds = *plan.o.seeds;
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
  auto per_seed = [&](double AblateRun::*f) {  // [seed][value]
    std::vector<std::vector<double>> c(static_cast<size_t>(seeds));
    for (auto& vr : runs)
      for (size_t i = 0; i < vr.seeds.size(); ++i) c[i].push_back(vr.seeds[i].*f);
    return c;
  };
  Panel knn_panel = value_panel("kNN top-1 after pretraining", "kNN top-1 (%)");
  knn_panel.series.push_back(band("after pretraining", "#2ca02c", per_seed(&AblateRun::knn), xs));
  Series init = band("at random init", "#7f7f7f", per_seed(&AblateRun::knn_init), xs);
  init.dashed = true;
  init.lo.clear(), init.hi.clear();
  knn_panel.series.push_back(init);
  Panel pretext_panel = value_panel("pretext accuracy (instance discrimination), last epoch", "top-1 (%)");
  pretext_panel.series.push_back(band("pretext top-1", "#1f77b4", per_seed(&AblateRun::pretext), xs));
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
    plot_png(png, panels, 600 * int(panels.size()), 450);
  } catch (const Error& e) {
    plot_note = std::string("plot.png was not written: ") + e.what();
    std::fprintf(stderr, "ablate: %s\n", plot_note.c_str());
  }
  return plot_note;
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
  const AblatePreset q = ablate_preset("quick");
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
  const AblateWhat w = ablate_what(a.str("what"));
  // given(), not "auto": a resumed ablation's config.json holds every fixed value, the ablated one too.
  for (const char* fixed : {"moco-m", "moco-k", "moco-t", "shuffle-bn"})
    MOCO_USAGE_CHECK(!(a.given(fixed) && "--" + std::string(fixed) == w.flag),
                     "--{} is what --what {} varies: give its values with --values", fixed, w.name);
  const AblateOptions o = ablate_options(a);
  use_machine(a);
  AblatePlan plan = plan_ablate(o);
  for (auto& [k, v] : plan.resolved) a.set(k, v);
  const int64_t seeds = *plan.o.seeds, images = plan.images;
  const Budget& b = plan.b;
  const std::vector<ValueRuns>& runs = plan.runs;
  std::unique_ptr<RunLock> lock;
  const std::string ablate_command_line = start_study(a, "ablate", argv, lock);
  const RunDir out(a.str("out"));
  std::printf("moco ablate: %s (%s) over %s, %lld seed%s each; %lld steps a run (%lld epochs x %lld of batch %lld) "
              "over %lld images\n",
              w.symbol.c_str(), w.title.c_str(), a.str("values").c_str(), (long long)seeds, seeds == 1 ? "" : "s",
              (long long)b.steps(), (long long)b.epochs, (long long)b.steps_per_epoch, (long long)b.batch,
              (long long)images);
  std::fflush(stdout);

  const auto t_start = std::chrono::steady_clock::now();
  int64_t done = 0;
  const Launcher launch = study_launcher("ablate", [&](const StudyRun& r, const std::string&) {
    return fmt::format("run {} of {}, {} = {}, seed {}", ++done, seeds * int64_t(runs.size()), w.symbol, r.label,
                       r.seed);
  });
  if (const int rc = run_ablate(plan, !a.str("resume").empty(), launch))
    return study_stopped("ablate", "ablation", a.str("out"), rc);
  const double total = ablate_seconds(plan);
  std::printf("\n==== ablate: this invocation took %s\n",
              fmt_duration(std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count()).c_str());

  const std::string plot_note = ablate_plot(plan, out.file("plot.png"));
  write_ablate_summary(plan, out.file("summary.json"));
  write_ablate_table(plan, ablate_command_line, plot_note, report_text(), out.file("table.md"));

  std::printf("\n==== ablate: done, runs took %s in all; %s, %s\n\n%-12s %22s %16s %16s\n", fmt_duration(total).c_str(),
              out.file("table.md").c_str(), out.file("summary.json").c_str(), w.symbol.c_str(), "kNN top-1",
              "kNN at init", "pretext top-1");
  for (auto& vr : runs)
    std::printf("%-12s %22s %16s %16s\n", vr.value.label.c_str(), pm(vr.get(&AblateRun::knn)).c_str(),
                pm(vr.get(&AblateRun::knn_init)).c_str(), pm(vr.get(&AblateRun::pretext)).c_str());
  if (plot_note.empty()) std::printf("plot: %s\n", out.file("plot.png").c_str());
  return 0;
}

}  // namespace moco::cli
