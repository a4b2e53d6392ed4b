#include "train/run_report.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "train/run_config.h"
#include "train/run_dir.h"
#include "train/run_setup.h"

namespace moco::train {

namespace fs = std::filesystem;

namespace {

std::string fmt_value(double v) {
  if (v == std::floor(v) && std::abs(v) < 1e9) return fmt::format("{:.0f}", v);
  if (std::abs(v) >= 1e-3 && std::abs(v) < 1e5) return fmt::format("{:.4f}", v);
  return fmt::format("{:.3g}", v);
}

}  // namespace

std::map<std::string, std::string> run_config_values(const std::string& dir) {
  std::map<std::string, std::string> out;
  const std::string path = (fs::path(dir) / "config.json").string();
  if (!fs::is_regular_file(path)) return out;
  const RunConfig c = read_run_config(path);
  out = c.flags;
  for (auto& [k, v] : c.machine) out[k] = v;
  out["command"] = c.command;
  if (!c.resumed_with.empty()) out["resumed_with"] = c.resumed_with;
  return out;
}

std::optional<double> knn_at_init(const std::string& dir) {
  const std::string path = (fs::path(dir) / "knn_init.json").string();
  if (!fs::is_regular_file(path)) return std::nullopt;
  using json = nlohmann::json;
  std::ifstream f(path);
  json j;
  try {
    j = json::parse(f);
  } catch (const json::exception& e) {
    fail("{}: not valid JSON ({})", printable(path), printable(e.what()));
  }
  auto v = j.is_object() ? j.find("knn_top1") : j.end();
  if (v == j.end() || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

void write_pretrain_report(const std::string& dir, int64_t epochs_done, int64_t epochs, const std::string& png) {
  RunDir run(dir);
  const std::vector<MetricsRow> rows = run.read_metrics();
  const std::map<std::string, std::string> cfg = run_config_values(dir);
  const std::optional<double> knn0 = knn_at_init(dir);
  auto conf = [&](const std::string& k) {
    auto it = cfg.find(k);
    return it == cfg.end() ? std::string() : it->second;
  };
  std::string md = fmt::format("# moco pretrain: {}\n\n", dir);
  md += fmt::format("MoCo {}, {} (width {}), {} pixels, batch {}, {} of {} epochs done.\n\n", conf("moco-version"),
                    conf("arch"), conf("width"), conf("image-size") == "0" ? "native" : conf("image-size"),
                    conf("batch-size"), epochs_done, epochs);
  md += "## Command\n\n```sh\n" + conf("command") + "\n```\n\n";
  if (!conf("resumed_with").empty()) md += "last continued with `" + conf("resumed_with") + "`\n\n";

  md += "## Results\n\n";
  if (rows.empty()) {
    md += "No epoch has finished.\n\n";
  } else {
    const MetricsRow& last = rows.back();
    const int64_t last_epoch = int64_t(find_value(last, "epoch").value_or(double(rows.size())));
    // (name, what it is, best is the min (-1), the max (+1) or not meaningful (0))
    const std::vector<std::tuple<std::string, std::string, int>> names = {
        {"loss", "training loss (InfoNCE)", -1},
        {"loss_chance", "loss of uniform logits (chance)", 0},
        {"inst_top1", "instance discrimination top-1 (%)", +1},
        {"knn_top1", "kNN top-1 on the test split (%)", +1},
        {"logit_pos_mean", "positive logit, mean (cosine)", 0},
        {"logit_neg_mean", "negative logit, mean (cosine)", 0},
        {"logit_neg_std", "negative logit, std (cosine)", 0},
        {"logit_neg_max", "negative logit, max (cosine)", 0},
        {"encoder_drift", "encoder drift ‖θq − θk‖ / ‖θq‖", 0},
        {"feature_std", "feature std (1/√d healthy, 0 collapsed)", 0},
        {"alignment", "alignment (lower: views closer)", 0},
        {"uniformity", "uniformity (lower: more uniform)", 0},
        {"queue_age_mean", "queue key age, mean (steps)", 0},
        {"queue_sim_mean", "queue key pairs, mean cosine", 0},
        {"grad_norm", "gradient norm", 0},
        {"lr", "learning rate", 0},
        {"moco_m", "key encoder momentum m", 0},
        {"images_per_sec", "images / s", 0}};
    md += fmt::format("| metric | final (epoch {}) | best (epoch) |\n|---|---|---|\n", last_epoch);
    for (auto& [name, what, dir_best] : names) {
      std::optional<double> final_v;
      for (auto it = rows.rbegin(); it != rows.rend() && !final_v; ++it) final_v = find_value(*it, name);
      if (!final_v) continue;
      std::string best;
      if (dir_best != 0) {
        double b = 0, be = 0;
        bool any = false;
        for (auto& r : rows) {
          const std::optional<double> v = find_value(r, name);
          if (v && (!any || (dir_best > 0 ? *v > b : *v < b))) {
            b = *v;
            be = find_value(r, "epoch").value_or(0);
            any = true;
          }
        }
        best = fmt::format("{} ({:.0f})", fmt_value(b), be);
      }
      const std::optional<double> final_epoch = [&]() -> std::optional<double> {
        for (auto it = rows.rbegin(); it != rows.rend(); ++it)
          if (find_value(*it, name)) return find_value(*it, "epoch");
        return std::nullopt;
      }();
      std::string final_s = fmt_value(*final_v);
      if (final_epoch && int64_t(*final_epoch) != last_epoch) final_s += fmt::format(" (epoch {:.0f})", *final_epoch);
      md += fmt::format("| {} `{}` | {} | {} |\n", what, name, final_s, best);
    }
    if (knn0) md += fmt::format("\nkNN top-1 at random initialisation (knn_init.json): {:.2f}%.\n", *knn0);
    md += "\nPer-epoch values: metrics.jsonl / metrics.csv; every --log-every steps: steps.jsonl / steps.csv.\n\n";
  }

  if (!png.empty() && fs::is_regular_file(fs::path(dir) / png)) md += "## Curves\n\n![curves](" + png + ")\n\n";

  md += "## Continue or evaluate\n\n```sh\n";
  if (epochs_done < epochs)
    md += "# continue to the planned " + std::to_string(epochs) + " epochs\n" +
          command_line("pretrain", {"--resume", dir}) + "\n";
  else
    md += "# train longer: the cosine schedule is redrawn over the new --epochs\n" +
          command_line("pretrain", {"--resume", dir, "--epochs", std::to_string(2 * epochs)}) + "\n";
  std::vector<std::string> data = {"--dataset", conf("dataset")};
  for (const char* k : {"data", "classes"})
    if (!conf(k).empty()) data.insert(data.end(), {std::string("--") + k, conf(k)});
  auto with = [&](std::vector<std::string> v) {
    v.insert(v.end(), data.begin(), data.end());
    return v;
  };
  md += "# kNN top-1 of the backbone's features\n" + command_line("knn", with({"--pretrained", dir})) + "\n";
  md += "# linear probe on frozen features\n" +
        command_line("linear", with({"--pretrained", dir, "--out", dir + "-linear"})) + "\n";
  md += "# fine-tuning end to end on 10% of the labels\n" +
        command_line("finetune", with({"--pretrained", dir, "--label-fraction", "0.1", "--out", dir + "-finetune"})) +
        "\n```\n\n";

  md += "## Configuration\n\nThe resolved flags (config.json):\n\n| flag | value |\n|---|---|\n";
  for (auto& [k, v] : cfg)
    if (k != "command" && k != "resumed_with") md += v.empty() ? fmt::format("| {} | |\n", k) : fmt::format("| {} | `{}` |\n", k, v);
  write_file_atomic(run.file("report.md"), md);
}

}  // namespace moco::train
