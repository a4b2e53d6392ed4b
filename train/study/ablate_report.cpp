// summary.json, table.md and the paragraph comparing the result with the
// paper, of the ablations (train/study/ablate.h).
#include <fmt/format.h>

#include "train/run_dir.h"
#include "train/study/ablate.h"
#include "train/study/report_json.h"

namespace moco::train {

namespace {

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
std::string knn_list(const AblateWhat& w, const std::vector<ValueRuns>& vs) {
  std::string s;
  for (auto& v : vs)
    s += fmt::format("{}{} = {} → {}", s.empty() ? "" : ", ", w.symbol, v.value.label, pct(v.mean(&AblateRun::knn)));
  return s;
}

// The paragraph comparing this run with the paper, from the numbers: what
// the paper found, what came out here, and where the two differ.
std::string paper_vs_here(const AblateWhat& w, const std::vector<ValueRuns>& vs, size_t ref, int64_t steps, int64_t images,
                          int64_t seeds) {
  size_t best = 0;
  for (size_t i = 0; i < vs.size(); ++i)
    if (vs[i].mean(&AblateRun::knn) > vs[best].mean(&AblateRun::knn)) best = i;
  const std::string seeds_txt = fmt::format("{} seed{}", seeds, seeds == 1 ? "" : "s");
  std::string here = fmt::format("**Here** (kNN top-1 after {} steps, mean of {}): {}. The best {} here is {}.", steps,
                                 seeds_txt, knn_list(w, vs), w.symbol, vs[best].value.label);
  std::string s;
  if (w.name == "m") {
    s = "**The paper** (MoCo v1, ResNet-50 on ImageNet, linear top-1): m = 0 fails to train, 0.9 → 55.2%, 0.99 → "
        "57.8%, 0.999 → 59.0%, 0.9999 → 58.9%: a slowly moving key encoder is best, 0.999 the best value.\n\n" + here;
    const ValueRuns *zero = find_label(vs, "0"), *r = &vs[ref];
    if (zero && zero != r) {
      const PairedDiff d = paired_difference(zero->get(&AblateRun::knn), r->get(&AblateRun::knn));
      const bool every = below_in_every_seed(*zero, *r);
      s += fmt::format(" m = 0 against m = {}: {:+.2f} points ({}).", r->value.label, d.mean,
                       every ? "lower in every seed" : "not lower in every seed");
      s += every && d.mean <= -1 ? " As in the paper, m = 0 is clearly worse: with the key encoder a copy of "
                                   "the query encoder at every step, the queue's keys come from many different "
                                   "encoders and stop being comparable."
                                 : " **Unlike the paper**, m = 0 is not clearly worse at this scale.";
      const double l0 = zero->mean(&AblateRun::loss), lr = r->mean(&AblateRun::loss);
      const double p0 = zero->mean(&AblateRun::pretext), pr = r->mean(&AblateRun::pretext);
      if (std::isfinite(l0) && std::isfinite(lr)) {
        s += fmt::format(" The pretext task at m = 0: last-epoch loss {:.3f} against {:.3f} at m = {} (uniform "
                         "logits: {:.3f}), pretext accuracy {} against {}",
                         l0, lr, r->value.label, zero->mean(&AblateRun::loss_chance), pct(p0), pct(pr));
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
      rising = rising && vs[i].mean(&AblateRun::knn) >= vs[i - 1].mean(&AblateRun::knn);
    const double gain = hi.mean(&AblateRun::knn) - lo.mean(&AblateRun::knn);
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
      const double p_on = on->mean(&AblateRun::pretext), p_off = off->mean(&AblateRun::pretext);
      const double k_on = on->mean(&AblateRun::knn), k_off = off->mean(&AblateRun::knn);
      const double e_on = early(*on), e_off = early(*off);
      s += fmt::format(" Pretext accuracy, off vs on: {} vs {} in the last epoch", pct(p_off), pct(p_on));
      if (std::isfinite(e_on) && std::isfinite(e_off))
        s += fmt::format(", {} vs {} over the first tenth of the steps", pct(e_off), pct(e_on));
      s += p_off > p_on ? " — higher without shuffling, as in the paper."
                        : " — **unlike the paper**, not higher without shuffling.";
      const PairedDiff d = paired_difference(off->get(&AblateRun::knn), on->get(&AblateRun::knn));
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
  for (auto& v : vs) all_below = all_below && v.mean(&AblateRun::knn) < v.mean(&AblateRun::knn_init);
  if (all_below)
    s += fmt::format("\n\nAt this budget no value lifts kNN top-1 above the random-init encoder's ({}): the ranking "
                     "above is among encoders that are all still worse than where they started.",
                     pct(vs[0].mean(&AblateRun::knn_init)));
  return s;
}

}  // namespace

std::string paper_vs_here(const AblatePlan& plan) {
  return paper_vs_here(plan.w, plan.runs, plan.ref, plan.b.steps(), plan.images, *plan.o.seeds);
}

void write_ablate_summary(const AblatePlan& plan, const std::string& path) {
  const std::vector<PairedDiff> vs_ref = vs_reference(plan);
  StudyJson js;
  js["what"] = plan.w.name;
  js["flag"] = plan.w.flag;
  js["preset"] = plan.o.preset;
  js["seeds"] = *plan.o.seeds;
  js["first_seed"] = plan.o.first_seed;
  js["dataset"] = plan.spec;
  js["classes"] = *plan.o.classes;
  js["images"] = plan.images;
  js["steps"] = plan.b.steps();
  js["epochs"] = plan.b.epochs;
  js["batch"] = plan.b.batch;
  js["reference"] = plan.runs[plan.ref].value.label;
  js["fixed"] = {{"moco_m", json_g(plan.m_fixed)},
                 {"moco_k", plan.k_fixed},
                 {"moco_t", json_g(plan.t_fixed)},
                 {"shuffle_bn", plan.shuffle_fixed != 0}};
  js["wall_seconds"] = std::strtod(fmt::format("{:.1f}", ablate_seconds(plan)).c_str(), nullptr);
  StudyJson& values = js["values"] = StudyJson::array();
  for (size_t i = 0; i < plan.runs.size(); ++i) {
    const ValueRuns& vr = plan.runs[i];
    StudyJson e;
    e["value"] = vr.value.label;
    e["x"] = json_g(vr.value.v);
    e["seed"] = StudyJson::array();
    for (auto& r : vr.seeds) e["seed"].push_back(r.run.seed);
    e["knn"] = json_list(vr.get(&AblateRun::knn));
    e["knn_mean"] = json_num(vr.mean(&AblateRun::knn));
    e["knn_std"] = json_num(std_of(vr.get(&AblateRun::knn)));
    e["knn_init"] = json_list(vr.get(&AblateRun::knn_init));
    e["knn_init_mean"] = json_num(vr.mean(&AblateRun::knn_init));
    e["pretext_top1"] = json_list(vr.get(&AblateRun::pretext));
    e["pretext_top1_mean"] = json_num(vr.mean(&AblateRun::pretext));
    e["pretext_top1_std"] = json_num(std_of(vr.get(&AblateRun::pretext)));
    e["loss"] = json_list(vr.get(&AblateRun::loss));
    e["loss_mean"] = json_num(vr.mean(&AblateRun::loss));
    e["loss_chance"] = json_num(vr.mean(&AblateRun::loss_chance));
    e["seconds"] = json_list(vr.get(&AblateRun::seconds));
    e["vs_reference"] = {{"diff_mean", json_num(vs_ref[i].mean)},
                         {"ci95", {json_num(vs_ref[i].lo), json_num(vs_ref[i].hi)}},
                         {"verdict", i == plan.ref ? "reference" : vs_ref[i].verdict}};
    values.push_back(e);
  }
  js["paper_vs_here"] = paper_vs_here(plan);
  write_study_json(path, js);
}

void write_ablate_table(const AblatePlan& plan, const std::string& ablate_command, const std::string& plot_note,
                        const ReportText& text, const std::string& path) {
  const AblateOptions& o = plan.o;
  const AblateWhat& w = plan.w;
  const AblatePreset& p = plan.p;
  const Budget& b = plan.b;
  const std::vector<ValueRuns>& runs = plan.runs;
  const size_t ref = plan.ref;
  const int64_t seeds = *o.seeds, first_seed = o.first_seed, E = b.epochs, images = plan.images;
  const double total = ablate_seconds(plan), m_fixed = plan.m_fixed, t_fixed = plan.t_fixed;
  const int64_t k_fixed = plan.k_fixed, shuffle_fixed = plan.shuffle_fixed;
  const std::string& spec = plan.spec;
  const std::vector<PairedDiff> vs_ref = vs_reference(plan);
  const std::string paragraph = paper_vs_here(plan);
  std::string md = fmt::format("# moco ablate --what {}: {}\n\n", w.name, w.title);
  md += fmt::format(
      "Preset `{}`, {} seed{} per value ({}), {}; {} CPU threads; wall time of all runs {}.\n\nEach run: MoCo "
      "pretraining of a ResNet-18 (small stem, width {}) on `{}` classes {} without labels ({} images), {} steps ({} "
      "epochs x {} of batch {}); MoCo v2 augmentation and cosine lr, no MLP head, lr {:g}, crop {:g}–1, {} shuffle-BN "
      "groups; fixed unless ablated: m {:g}, K {}, T {:g}, shuffle-BN {}. kNN top-1: k 200, T 0.1, backbone "
      "features, the task's training images as the bank, {} test images. Pretext top-1: instance discrimination "
      "(the positive key ranked first among the K + 1), mean over the last epoch.\n\n",
      o.preset, seeds, seeds == 1 ? "" : "s",
      seeds == 1 ? fmt::format("seed {}", first_seed) : fmt::format("seeds {}–{}", first_seed, first_seed + seeds - 1),
      text.date, text.threads,
      text.duration(total), *o.width, spec, *o.classes, images, b.steps(), E, b.steps_per_epoch, b.batch,
      p.lr, p.crop_min, p.bn_splits, m_fixed, k_fixed, t_fixed, shuffle_fixed ? "on" : "off",
      *o.knn_test > 0 ? std::to_string(*o.knn_test) : std::string("all"));
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
    md += fmt::format(" {} | {} | {} | {} | {} | {} |\n", pm(vr.get(&AblateRun::knn)),
                      i == ref ? std::string("reference") : ci_text(vs_ref[i]), pm(vr.get(&AblateRun::knn_init)),
                      pm(vr.get(&AblateRun::pretext)), pm(vr.get(&AblateRun::loss), ""),
                      text.duration(mean_of(vr.get(&AblateRun::seconds))));
  }
  md += fmt::format("\n*vs {} = {}*: the paired difference of kNN top-1 over seeds (a seed gives every value the same "
                    "initial weights, data order and augmentations), with its 95% interval from Student's t (n − 1 "
                    "degrees of freedom); in bold the recipe's own value.\n\n",
                    w.symbol, runs[ref].value.label);
  md += plot_note.empty() ? "![kNN and pretext accuracy against " + w.symbol + "](plot.png)\n\n"
                          : "(" + plot_note + ")\n\n";
  md += "## Paper vs here\n\n" + paragraph + "\n\n";
  md += "## Commands\n\n```sh\n" + ablate_command + "\n```\n\nwhich ran, in this order (each folder holds "
        "config.json, metrics.jsonl, steps.jsonl, knn_init.json and checkpoint.safetensors):\n\n```sh\n";
  for (int64_t i = 0; i < seeds; ++i)
    for (auto& vr : runs) md += text.command_line("pretrain", vr.seeds[size_t(i)].run.argv) + "\n";
  md += "```\n";
  write_file_atomic(path, md);
}

}  // namespace moco::train
