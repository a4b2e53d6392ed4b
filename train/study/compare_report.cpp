// summary.json and report.md of the seed study (train/study/compare.h).
#include <fmt/format.h>

#include "train/data_setup.h"
#include "train/run_dir.h"
#include "train/study/compare.h"
#include "train/study/report_json.h"

namespace moco::train {

void write_compare_summary(const ComparePlan& plan, const std::vector<Claim>& claims, double total,
                           const std::string& path) {
  StudyJson js;
  js["preset"] = plan.o.preset;
  js["seeds"] = *plan.o.seeds;
  js["dataset"] = plan.spec;
  js["classes"] = *plan.o.classes;
  js["wall_seconds"] = std::strtod(fmt::format("{:.1f}", total).c_str(), nullptr);
  StudyJson& models = js["models"] = StudyJson::object();
  for (const ModelRuns& m : plan.models) {
    const std::vector<double> knn = m.get(&SeedRun::knn), knn0 = m.get(&SeedRun::knn_init);
    auto if_pretrained = [&](StudyJson v) { return m.pretrained ? v : StudyJson(nullptr); };
    StudyJson& e = models[m.name];
    e["seeds"] = m.seeds.size();
    e["best_top1_mean"] = json_num(mean_of(m.get(&SeedRun::best)));
    e["best_top1_std"] = json_num(std_of(m.get(&SeedRun::best)));
    e["final_top1_mean"] = json_num(mean_of(m.get(&SeedRun::final_top1)));
    e["final_top1_std"] = json_num(std_of(m.get(&SeedRun::final_top1)));
    e["smoothness_mean"] = json_num(mean_of(m.get(&SeedRun::smooth)));
    e["smoothness_std"] = json_num(std_of(m.get(&SeedRun::smooth)));
    e["knn_mean"] = if_pretrained(json_num(mean_of(knn)));
    e["knn_std"] = if_pretrained(json_num(std_of(knn)));
    e["knn_init_mean"] = if_pretrained(json_num(mean_of(knn0)));
    e["steps"] = m.finetune.steps();
    e["epochs"] = m.finetune.epochs;
    e["batch"] = m.finetune.batch;
    e["images_seen"] = m.finetune.images_seen();
    e["pretrain_steps"] = if_pretrained(m.pretrain.steps());
    e["pretrain_epochs"] = if_pretrained(m.pretrain.epochs);
    e["pretrain_batch"] = if_pretrained(m.pretrain.batch);
    e["pretrain_images_seen"] = if_pretrained(m.pretrain.images_seen());
    e["moco_k"] = m.moco_k ? StudyJson(m.moco_k) : StudyJson(nullptr);
    StudyJson& ps = e["per_seed"];
    ps["seed"] = StudyJson::array();
    for (auto& r : m.seeds) ps["seed"].push_back(r.seed);
    ps["best_top1"] = json_list(m.get(&SeedRun::best));
    ps["final_top1"] = json_list(m.get(&SeedRun::final_top1));
    ps["smoothness"] = json_list(m.get(&SeedRun::smooth));
    ps["knn"] = json_list(knn);
    ps["knn_init"] = json_list(knn0);
    ps["seconds"] = json_list(m.get(&SeedRun::seconds));
  }
  StudyJson& verdicts = js["verdicts"] = StudyJson::object();
  for (const Claim& c : claims)
    verdicts[c.key] = {{"claim", c.text},
                       {"measure", c.measure},
                       {"n", c.d.n},
                       {"diff_mean", json_num(c.d.mean)},
                       {"diff_std", json_num(c.d.std)},
                       {"ci95", {json_num(c.d.lo), json_num(c.d.hi)}},
                       {"verdict", c.d.verdict}};
  write_study_json(path, js);
}

void write_compare_report(const ComparePlan& plan, const std::vector<Claim>& cl, double total,
                          const std::string& study_command, const std::string& plot_note, const ReportText& text,
                          const std::string& path) {
  const CompareOptions& o = plan.o;
  const int64_t seeds = *o.seeds, first_seed = o.first_seed;
  std::string classes;
  const std::vector<std::string> class_ids = split_list(*o.classes);
  for (size_t i = 0; i < plan.class_names.size(); ++i)
    classes += fmt::format("{}{} ({})", i ? ", " : "", plan.class_names[i], class_ids[i]);
  std::string md = fmt::format("# moco compare: supervised vs MoCo-pretrained, ResNet vs ViT\n\n"
                               "Preset `{}`, {} seed{} ({}–{}), {}; {} CPU threads; total wall time {}.\n\n",
                               o.preset, seeds, seeds == 1 ? "" : "s", first_seed, first_seed + seeds - 1, text.date,
                               text.threads, text.duration(total));
  md += fmt::format("Data: `{}`, classes {}. Fine-tuning uses {:g}% of each class's training labels (at least {} per "
                    "class): {} labelled images. MoCo pretraining uses {:g}% of the task's training images without "
                    "labels: {} images. Validation: {} of the test split of the same classes (stratified).\n\n",
                    plan.spec, classes, 100 * *o.label_fraction, *o.label_floor, plan.n_labelled,
                    100 * *o.data_fraction, plan.n_pretrain,
                    *o.val_samples > 0 ? fmt::format("{} images", *o.val_samples) : std::string("all"));
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
  for (auto& m : plan.models) {
    std::vector<double> lift;
    for (auto& r : m.seeds) lift.push_back(r.knn - r.knn_init);
    double secs = 0;
    for (auto& r : m.seeds) secs += r.seconds;
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", m.name,
                      m.pretrained ? "MoCo " + m.version : std::string("none"), pm(m.get(&SeedRun::best)),
                      pm(m.get(&SeedRun::final_top1)), pm(m.get(&SeedRun::smooth), ""),
                      m.pretrained ? pm(m.get(&SeedRun::knn)) : "—", m.pretrained ? pm(m.get(&SeedRun::knn_init)) : "—",
                      m.pretrained ? pm(lift, " points") : "—", text.duration(secs / double(m.seeds.size())) + " a seed");
  }
  md += "\n*smoothness*: the mean absolute change of validation top-1 from one epoch to the next, in points (lower is "
        "smoother). *kNN*: the pretrained encoder's kNN top-1 (k 200, T 0.1, backbone features) on the validation "
        "images; *at init*: the same encoder before pretraining; *lift*: after − at init, per seed.\n\n";
  md += plot_note.empty() ? "![training curves](curves.png)\n\n" : "(" + plot_note + ")\n\n";
  md += "## Per seed\n\n| model | seed | best top-1 | final top-1 | smoothness | kNN after / at init | wall time "
        "|\n|---|---|---|---|---|---|---|\n";
  for (auto& m : plan.models)
    for (auto& r : m.seeds)
      md += fmt::format("| {} | {} | {:.2f}% | {:.2f}% | {:.2f} | {} | {} |\n", m.name, r.seed, r.best, r.final_top1,
                        r.smooth,
                        m.pretrained ? fmt::format("{:.2f}% / {:.2f}%", r.knn, r.knn_init) : std::string("—"),
                        text.duration(r.seconds));
  md += "\n## Budgets\n\n| model | run | steps | epochs | batch | images | images seen |\n|---|---|---|---|---|---|---|\n";
  for (auto& m : plan.models) {
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
                    *o.width, o.patch_size > 0 ? std::to_string(o.patch_size) : std::string("4 (auto)"), *o.vit_dim,
                    *o.vit_depth, *o.vit_heads);
  md += "## Commands\n\nThe study:\n\n```sh\n" + study_command +
        "\n```\n\nwhich ran, in this order (each folder holds config.json, metrics.jsonl / metrics.csv and "
        "checkpoint.safetensors):\n\n```sh\n";
  for (const StudyRun* r : plan.order()) md += text.command_line(r->command, r->argv) + "\n";
  md += "```\n";
  write_file_atomic(path, md);
}

}  // namespace moco::train
