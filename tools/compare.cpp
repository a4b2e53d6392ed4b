#include "tools/compare.h"

#include <chrono>
#include <cstdio>
#include <map>

#include "tensor/error.h"
#include "tools/args.h"
#include "tools/cli_common.h"
#include "tools/plot.h"
#include "tools/study_io.h"
#include "train/study/compare.h"

namespace moco::cli {

namespace {

std::string budget_text(const Budget& b) {
  return fmt::format("{} steps ({} epoch{} x {} of batch {}) over {} images, {} images seen", b.steps(), b.epochs,
                     b.epochs == 1 ? "" : "s", b.steps_per_epoch, b.batch, b.images, b.images_seen());
}

// The flags as the study's options: "auto" stays unset.
CompareOptions compare_options(const Args& a) {
  auto opt_int = [&](const char* n) { return a.str(n) == "auto" ? std::nullopt : std::optional(a.integer(n)); };
  auto opt_real = [&](const char* n) { return a.str(n) == "auto" ? std::nullopt : std::optional(a.real(n)); };
  CompareOptions o;
  o.preset = a.str("preset");
  o.seeds = opt_int("seeds"), o.first_seed = a.integer("seed", 0, INT64_MAX - 1000);
  o.dataset = a.str("dataset"), o.data = a.str("data");
  if (a.str("classes") != "auto") o.classes = a.str("classes");
  o.label_fraction = opt_real("label-fraction"), o.data_fraction = opt_real("data-fraction");
  o.label_floor = opt_int("label-floor"), o.steps = opt_int("steps"), o.epochs = opt_int("epochs");
  o.pretrain_steps = opt_int("pretrain-steps"), o.pretrain_epochs = opt_int("pretrain-epochs");
  o.width = opt_int("width"), o.vit_dim = opt_int("vit-dim"), o.vit_depth = opt_int("vit-depth");
  o.vit_heads = opt_int("vit-heads"), o.batch = opt_int("batch-size"), o.pretrain_batch = opt_int("pretrain-batch-size");
  o.moco_k = opt_int("moco-k"), o.val_samples = opt_int("val-samples"), o.knn_test = opt_int("knn-test");
  o.patch_size = a.integer("patch-size", 0), o.image_size = a.integer("image-size", 0);
  o.channels = a.integer("channels", 0);
  o.moco_resnet = a.str("moco-resnet"), o.moco_vit = a.str("moco-vit");
  o.models = split_list(a.str("models"));
  o.workers = a.str("workers"), o.threads = a.str("threads"), o.device = a.str("device"), o.out = a.str("out");
  return o;
}

// curves.png: mean curves with min-max bands over seeds. Returns why it was
// not written ("" when it was).
std::string compare_plot(const ComparePlan& plan, const std::string& png) {
  const int64_t seeds = *plan.o.seeds;
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
  for (auto& m : plan.models) {
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
    plot_png(png, panels, 600 * int(panels.size()), 450);
  } catch (const Error& e) {
    plot_note = std::string("curves.png was not written: ") + e.what();
    std::fprintf(stderr, "compare: %s\n", plot_note.c_str());
  }
  return plot_note;
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
  const ComparePreset q = compare_preset("quick"), s = compare_preset("standard");
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
  CompareOptions o = compare_options(a);
  use_machine(a);
  ComparePlan plan = plan_compare(o);
  for (auto& [k, v] : plan.resolved) a.set(k, v);
  const int64_t seeds = *plan.o.seeds;
  std::unique_ptr<RunLock> lock;
  const std::string study_command = start_study(a, "compare", argv, lock);
  const RunDir out(plan.o.out);
  std::printf("moco compare: preset %s, %lld seed%s, models %s\n  fine-tuning: %s\n", a.str("preset").c_str(),
              (long long)seeds, seeds == 1 ? "" : "s", a.str("models").c_str(), budget_text(plan.finetune).c_str());
  for (auto& m : plan.models)
    if (m.pretrained)
      std::printf("  %s pretraining (MoCo %s): %s%s\n", m.name.c_str(), m.version.c_str(),
                  budget_text(m.pretrain).c_str(), m.moco_k ? fmt::format(", queue {}", m.moco_k).c_str() : "");
  std::fflush(stdout);

  const auto t_start = std::chrono::steady_clock::now();
  const Launcher launch = study_launcher("compare", [&](const StudyRun& r, const std::string&) {
    return fmt::format("seed {} ({} of {}), {}", r.seed, r.seed - plan.o.first_seed + 1, seeds, r.label);
  });
  if (const int rc = run_compare(plan, !a.str("resume").empty(), launch))
    return study_stopped("compare", "study", plan.o.out, rc);
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  const std::vector<Claim> cl = compare_claims(plan.models);

  const std::string plot_note = compare_plot(plan, out.file("curves.png"));
  write_compare_summary(plan, cl, total, out.file("summary.json"));
  write_compare_report(plan, cl, total, study_command, plot_note, report_text(), out.file("report.md"));

  std::printf("\n==== compare: done in %s; %s, %s\n\n", fmt_duration(total).c_str(), out.file("report.md").c_str(),
              out.file("summary.json").c_str());
  std::printf("%-12s %18s %18s %14s %22s\n", "model", "best top-1", "final top-1", "smoothness", "kNN (at init)");
  for (auto& m : plan.models)
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
