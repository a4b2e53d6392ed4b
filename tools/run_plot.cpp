#include "tools/run_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>

#include "tools/args.h"
#include "tools/cli_common.h"
#include "tools/plot.h"
#include "train/run_dir.h"
#include "train/run_report.h"

namespace moco::cli {

namespace fs = std::filesystem;

namespace {

struct RunData {
  std::string dir, label;
  std::vector<MetricsRow> steps, epochs;
  std::map<std::string, std::string> config;  // config.json's string values
  std::optional<double> knn_init;
};

// Why `dir` cannot be plotted, or "" when it can.
std::string not_a_run(const std::string& dir) {
  if (!fs::is_directory(dir)) return fmt::format("{} is not a folder", dir);
  RunDir r(dir);
  if (r.read_rows("metrics").empty() && r.read_rows("steps").empty())
    return fmt::format("{} has no metrics (no rows in metrics.jsonl or steps.jsonl): not a run folder of moco "
                       "pretrain / train / linear / finetune, or its first epoch has not finished yet",
                       dir);
  return "";
}

RunData load_run(const std::string& dir) {
  const std::string why = not_a_run(dir);
  if (!why.empty()) usage_fail("{}", why);
  RunData r;
  r.dir = dir;
  r.label = fs::path(dir).lexically_normal().filename().string();
  if (r.label.empty() || r.label == ".") r.label = fs::path(dir).lexically_normal().parent_path().filename().string();
  RunDir rd(dir);
  r.steps = rd.read_rows("steps");
  r.epochs = rd.read_rows("metrics");
  r.config = run_config_values(dir);
  r.knn_init = knn_at_init(dir);
  return r;
}

// (epoch, value) of every row that has both.
Series curve(const std::vector<MetricsRow>& rows, const std::string& name) {
  Series s;
  for (auto& row : rows) {
    const std::optional<double> x = find_value(row, "epoch"), y = find_value(row, name);
    if (x && y && std::isfinite(*x) && std::isfinite(*y)) {
      s.x.push_back(*x);
      s.y.push_back(*y);
    }
  }
  return s;
}

struct Item {
  std::string name, label;
  bool dashed = false;
  bool epochs_only = false;  // per-epoch measurements (kNN): never in steps.jsonl
};

struct PanelSpec {
  std::string title, ylabel;
  std::vector<Item> items;
  bool logy = false;
  std::string key = "top right";
  // "[0:*]" where 0 is the reference (no accuracy, collapse, fresh keys), so
  // small wiggles of a flat curve are not blown up to the panel's height.
  std::string yrange = "";
};

const std::vector<PanelSpec>& panel_specs() {
  static const std::vector<PanelSpec> specs = {
      {"loss (dashed: chance, the loss of uniform logits)",
       "loss (nats)",
       {{"loss", "loss"}, {"loss_chance", "chance", true}, {"train_loss", "training loss"}}},
      {"instance discrimination top-1 (positive key ranked first)", "top-1 (%)", {{"inst_top1", "instance top-1"}}, false,
       "bottom right", "[0:*]"},
      {"kNN top-1 on the test split (epoch 0: random init)",
       "top-1 (%)",
       {{"knn_top1", "kNN top-1", false, true}, {"val_top1", "validation top-1", false, true}},
       false,
       "bottom right"},
      {"logits as cosine similarity (logit x T): means, and the largest negative",
       "cosine similarity",
       {{"logit_pos_mean", "positive"},
        {"logit_neg_mean", "negative"},
        {"logit_neg_max", "max negative"},
        {"queue_sim_mean", "queue key pairs"}},
       false,
       "center right"},
      {"alignment E|q-k|^2, uniformity log E exp(-2|x-y|^2) (lower: better)",
       "alignment, uniformity",
       {{"alignment", "alignment"}, {"uniformity", "uniformity"}},
       false,
       "center right"},
      {"feature std of normalised q (dashed: 1/sqrt(d); collapse: 0)",
       "mean std per dimension",
       {{"feature_std", "feature std"}},
       false,
       "bottom right",
       "[0:*]"},
      {"encoder drift |theta_q - theta_k| / |theta_q|", "relative distance (log)", {{"encoder_drift", "drift"}}, true},
      {"gradient norm of the query side (before the step)", "L2 norm (log)", {{"grad_norm", "grad norm"}}, true},
      {"queue: mean age of the keys", "age (steps)", {{"queue_age_mean", "mean age"}}, false, "bottom right", "[0:*]"},
      {"learning rate", "lr", {{"lr", "lr"}}},
      {"key encoder momentum m", "m", {{"moco_m", "m"}}, false, "bottom right"},
  };
  return specs;
}

std::vector<Panel> build_panels(const std::vector<RunData>& runs) {
  const bool several = runs.size() > 1;
  std::vector<Panel> panels;
  for (const PanelSpec& spec : panel_specs()) {
    // An opaque legend stays readable where curves run under it.
    Panel p{spec.title, "epoch", spec.ylabel, {}, "inside " + spec.key + " opaque font ',8'", spec.logy, spec.yrange};
    for (const RunData& r : runs) {
      auto name = [&](const std::string& label) { return several ? r.label + ": " + label : label; };
      for (const Item& it : spec.items) {
        Series s = it.epochs_only ? Series{} : curve(r.steps, it.name);
        if (s.x.empty()) s = curve(r.epochs, it.name);
        if (it.name == "knn_top1" && r.knn_init && !s.x.empty()) {
          s.x.insert(s.x.begin(), 0.0);
          s.y.insert(s.y.begin(), *r.knn_init);
        }
        if (s.x.empty()) continue;
        if (spec.logy) {  // a log axis has no place for 0
          Series pos;
          for (size_t i = 0; i < s.x.size(); ++i)
            if (s.y[i] > 0) pos.x.push_back(s.x[i]), pos.y.push_back(s.y[i]);
          if (pos.x.empty()) continue;
          s.x = pos.x;
          s.y = pos.y;
        }
        s.name = name(it.label);
        s.dashed = it.dashed;
        s.points = !it.dashed && s.x.size() <= 60;
        const double x0 = s.x.front(), x1 = s.x.back();
        p.series.push_back(s);
        auto dim = r.config.find("moco-dim");
        if (it.name == "feature_std" && dim != r.config.end() && std::atof(dim->second.c_str()) > 0) {
          const double ref = 1.0 / std::sqrt(std::atof(dim->second.c_str()));
          Series ref_line;
          ref_line.name = name(fmt::format("1/sqrt({})", dim->second));
          ref_line.x = {x0, x1};
          ref_line.y = {ref, ref};
          ref_line.dashed = true;
          ref_line.points = false;
          p.series.push_back(ref_line);
        }
      }
    }
    // Many curves (several runs): the legend goes under the panel, where it hides none of them.
    if (p.series.size() > 4) p.key = "below horizontal samplen 2 font ',8'";
    // A panel whose only curves are reference levels says nothing about the run.
    const bool measured = std::any_of(p.series.begin(), p.series.end(), [](const Series& s) { return !s.dashed; });
    if (measured) panels.push_back(p);
  }
  return panels;
}

}  // namespace

void plot_runs(const std::vector<std::string>& dirs, const std::string& png) {
  if (dirs.empty()) usage_fail("moco plot needs at least one run folder");
  std::vector<RunData> runs;
  for (const std::string& d : dirs) runs.push_back(load_run(d));
  std::vector<Panel> panels = build_panels(runs);
  if (panels.empty())
    usage_fail("nothing to plot: {} hold{} none of the curves moco plot draws (loss, inst_top1, knn_top1, ...)",
               fmt::join(dirs, ", "), dirs.size() == 1 ? "s" : "");
  const int cols = 3, rows = int((panels.size() + cols - 1) / cols);
  plot_png(png, panels, 1500, 340 * rows, cols);
}

int plot_command(const std::vector<std::string>& argv) {
  Args a("plot",
         "Draw the curves of one or more run folders into one PNG: loss against loss_chance, instance and kNN top-1, "
         "positive / negative logits (as cosine similarities), alignment and uniformity, feature_std against "
         "1/sqrt(d), encoder drift, gradient norm, queue age, lr and m; x = epochs. Step rows (steps.jsonl, "
         "moco pretrain --log-every) are drawn where a run has them, epoch rows (metrics.jsonl) otherwise; a "
         "panel without values in any run is left out. Usage: moco plot RUN [RUN...] [--out FILE.png]");
  a.opt("out", "", "the PNG to write (default: RUN/plots.png for one run, plots.png here for several)");
  std::vector<std::string> flags, runs;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i].rfind("-", 0) == 0) {
      flags.push_back(argv[i]);
      const bool takes_value = argv[i] == "--out";
      if (takes_value && i + 1 < argv.size()) flags.push_back(argv[++i]);
    } else {
      runs.push_back(argv[i]);
    }
  }
  if (!a.parse(flags)) return 0;
  if (runs.empty()) usage_fail("moco plot needs at least one run folder: moco plot RUN [RUN...] (see --help)");
  std::string png = a.str("out");
  if (png.empty()) png = runs.size() == 1 ? (fs::path(runs[0]) / "plots.png").string() : "plots.png";
  plot_runs(runs, png);
  std::printf("moco plot: %s\n", png.c_str());
  return 0;
}

}  // namespace moco::cli
