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

struct Preset {
  int64_t epochs, pretrain_epochs, width, vit_dim, vit_depth, vit_heads, batch, pretrain_batch, knn_every, knn_bank,
      knn_test, val_samples;
  double label_fraction, data_fraction;
};

// quick: sized to finish within 15 minutes on a 2-core CPU (see README);
// full: the seed study's 50 fine-tuning epochs on every labelled image.
Preset preset(const std::string& name) {
  if (name == "quick") return {8, 2, 8, 64, 4, 2, 128, 128, 2, 1000, 1000, 2000, 0.1, 0.2};
  if (name == "full") return {50, 50, 16, 128, 6, 4, 128, 256, 5, 0, 0, 0, 1.0, 1.0};
  fail("--preset must be quick or full, got '{}'", name);
}

std::vector<std::string> split_csv(const std::string& s) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p <= s.size()) {
    size_t q = s.find(',', p);
    if (q == std::string::npos) q = s.size();
    if (q > p) out.push_back(s.substr(p, q - p));
    p = q + 1;
  }
  return out;
}

std::vector<double> column(const RunDir& dir, const std::string& name) {
  std::vector<double> out;
  for (auto& row : dir.read_metrics())
    for (auto& [k, v] : row)
      if (k == name) out.push_back(v);
  return out;
}

// A number from a one-object JSON file, or `missing`.
double read_number(const std::string& path, const std::string& key, double missing) {
  std::ifstream f(path);
  if (!f) return missing;
  std::string text((std::istreambuf_iterator<char>(f)), {});
  nn::Json j = nn::parse_json(text, path);
  const nn::Json* s = j.find(key);
  if (!s) return missing;
  return s->kind == nn::Json::Kind::integer ? double(s->i) : s->kind == nn::Json::Kind::number ? s->d : missing;
}

double read_wall(const std::string& dir) { return read_number(dir + "/wall_time.json", "seconds", 0); }

struct SubRun {
  std::string command;  // "pretrain" or "train" / "finetune"
  std::vector<std::string> argv;
  std::string dir;
};

struct ModelResult {
  std::string name, family;
  bool pretrained = false;
  SubRun pretrain, finetune;
  int64_t pretrain_epochs = 0, epochs = 0;
  double best = 0, final_top1 = 0, smooth = 0, seconds = 0, knn = -1, knn_init = -1;
  std::vector<double> loss, val, knn_curve;
};

std::string fmt_g(double v) { return fmt::format("{:g}", v); }

const ModelResult* find(const std::vector<ModelResult>& rs, const std::string& name) {
  for (auto& r : rs)
    if (r.name == name) return &r;
  return nullptr;
}

// A few sentences read off the table, so the report says what it shows.
std::string reading(const std::vector<ModelResult>& rs, const std::string& preset) {
  std::string out;
  for (const char* fam : {"resnet", "vit"}) {
    const ModelResult *sup = find(rs, fam), *moco = find(rs, std::string("moco_") + fam);
    if (!sup || !moco) continue;
    const double d = moco->best - sup->best;
    out += fmt::format("* {} vs {}: best top-1 {:+.2f} points with MoCo pretraining ({:.2f}% vs {:.2f}%); "
                       "smoothness {:.2f} vs {:.2f}.",
                       moco->name, sup->name, d, moco->best, sup->best, moco->smooth, sup->smooth);
    if (moco->knn >= 0 && moco->knn_init >= 0)
      out += fmt::format(" The pretrained encoder's kNN top-1 is {:.1f}%, {} the {:.1f}% of the same encoder at "
                         "random initialisation.",
                         moco->knn, moco->knn > moco->knn_init ? "above" : "not above", moco->knn_init);
    out += "\n";
  }
  const ModelResult *r = find(rs, "resnet"), *v = find(rs, "vit");
  if (r && v)
    out += fmt::format("* resnet vs vit from scratch: {:.2f}% vs {:.2f}% best top-1; smoothness {:.2f} vs {:.2f}.\n",
                       r->best, v->best, r->smooth, v->smooth);
  if (preset == "quick")
    out += "* The quick preset is a short run of the whole pipeline (a minute or two of pretraining per model on a "
           "CPU), not the study itself: at this budget pretraining has barely started. `moco compare --preset full` "
           "runs the study with 50 fine-tuning epochs.\n";
  return out.empty() ? out : "## Reading\n\n" + out + "\n";
}

}  // namespace

int compare_command(const std::vector<std::string>& argv) {
  Args a("compare",
         "The seed study: resnet (supervised from scratch), moco_resnet (MoCo-pretrained without labels, then "
         "fine-tuned), vit and moco_vit on a small classification task, all four with the same fine-tuning budget. "
         "Writes report.md (best / final top-1, curve smoothness, wall time, exact commands), curves.png (training "
         "loss and validation top-1 per epoch) and the four runs' folders. Defaults: Fashion-MNIST's four "
         "upper-body garment classes (T-shirt/top, Pullover, Coat, Shirt). 'auto' values come from --preset: quick "
         "(within 15 minutes on a 2-core CPU: small models, 10% of the labels, short schedules) or full (50 "
         "fine-tuning epochs on every label after 50 pretraining epochs: about a day on a 2-core CPU, or use "
         "--device cuda).");
  const Preset q = preset("quick"), f = preset("full");
  auto both = [&](const char* what, double qv, double fv) { return fmt::format("{} (quick {:g}, full {:g})", what, qv, fv); };
  a.opt("preset", "quick", "quick | full")
      .opt("dataset", "fashion-mnist", "fashion-mnist | mnist | cifar10 | cifar100 | stl10 | folder")
      .opt("data", "", "the data set's folder (Fashion-MNIST is found automatically)")
      .opt("classes", "auto", "the task's classes by index or name (auto: 0,2,4,6 on Fashion-MNIST, else 0,1,2,3)")
      .opt("label-fraction", "auto",
           both("fraction of each class's training labels for fine-tuning", q.label_fraction, f.label_fraction))
      .opt("data-fraction", "auto",
           both("fraction of each class's training images for pretraining", q.data_fraction, f.data_fraction))
      .opt("epochs", "auto", both("fine-tuning (and supervised) epochs, the same for all four", double(q.epochs),
                                  double(f.epochs)))
      .opt("pretrain-epochs", "auto",
           both("MoCo pretraining epochs", double(q.pretrain_epochs), double(f.pretrain_epochs)))
      .opt("width", "auto", both("ResNet-18 (small stem) base width", double(q.width), double(f.width)))
      .opt("vit-dim", "auto", both("ViT width", double(q.vit_dim), double(f.vit_dim)))
      .opt("vit-depth", "auto", both("ViT blocks", double(q.vit_depth), double(f.vit_depth)))
      .opt("vit-heads", "auto", both("ViT heads", double(q.vit_heads), double(f.vit_heads)))
      .opt("patch-size", "0", "ViT patch side (0: 4 for images up to 64 px, else 16)")
      .opt("batch-size", "auto", both("fine-tuning batch", double(q.batch), double(f.batch)))
      .opt("pretrain-batch-size", "auto", both("pretraining batch", double(q.pretrain_batch), double(f.pretrain_batch)))
      .opt("moco-resnet", "v2", "MoCo version for the ResNet: v1 | v2 | v3")
      .opt("moco-vit", "v3", "MoCo version for the ViT: v1 | v2 | v3")
      .opt("val-samples", "auto",
           both("test images (stratified) every run is evaluated on each epoch; 0: all", double(q.val_samples),
                double(f.val_samples)))
      .opt("knn-every", "auto",
           both("kNN monitor of the pretraining runs every N epochs; 0: off", double(q.knn_every), double(f.knn_every)))
      .opt("models", "resnet,moco_resnet,vit,moco_vit", "which of the four to run, comma-separated")
      .opt("image-size", "0", "model input side (0: the data set's own)")
      .opt("channels", "0", "model input channels (0: 1 for grayscale data, else 3)")
      .opt("workers", "2", "data loader threads")
      .opt("seed", "0", "seed of every run")
      .opt("threads", "0", "CPU threads (0: OMP_NUM_THREADS or all cores)")
      .opt("device", "cpu", "cpu | cuda (cuda:N)")
      .opt("out", "runs/compare", "the study's folder: report.md, curves.png, one folder per run")
      .opt("resume", "", "continue a study (its folder): finished runs are kept, unfinished ones resumed");
  if (!a.parse(argv)) return 0;

  if (!a.str("resume").empty()) {
    const std::string dir = a.str("resume");
    MOCO_CHECK(fs::is_regular_file(dir + "/config.json"), "--resume {}: not a compare folder (no config.json)", dir);
    std::ifstream f(dir + "/config.json");
    std::string text((std::istreambuf_iterator<char>(f)), {});
    nn::Json j = nn::parse_json(text, dir + "/config.json");
    for (auto& [k, v] : j.members)
      if (k != "command" && k != "resume" && a.has(k) && !a.given(k) && v.kind == nn::Json::Kind::string)
        a.set(k, v.s);
    if (!a.given("out")) a.set("out", dir);
  }
  const Preset p = preset(a.str("preset"));
  auto def = [&](const char* name, const std::string& v) {
    if (a.str(name) == "auto") a.set(name, v);
  };
  const bool fmnist = a.str("dataset").rfind("fashion", 0) == 0 || a.str("dataset") == "fmnist";
  def("classes", fmnist ? "0,2,4,6" : "0,1,2,3");
  def("label-fraction", fmt_g(p.label_fraction));
  def("data-fraction", fmt_g(p.data_fraction));
  def("epochs", std::to_string(p.epochs));
  def("pretrain-epochs", std::to_string(p.pretrain_epochs));
  def("width", std::to_string(p.width));
  def("vit-dim", std::to_string(p.vit_dim));
  def("vit-depth", std::to_string(p.vit_depth));
  def("vit-heads", std::to_string(p.vit_heads));
  def("batch-size", std::to_string(p.batch));
  def("pretrain-batch-size", std::to_string(p.pretrain_batch));
  def("knn-every", std::to_string(p.knn_every));
  def("val-samples", std::to_string(p.val_samples));
  const int threads = int(a.integer("threads", 0, 4096));
  if (threads > 0) set_num_threads(threads);
  const Device device = Device::parse(a.str("device"));
  if (!device.is_cpu()) (void)backend_for(device);
  const std::vector<std::string> models = split_csv(a.str("models"));
  for (auto& m : models)
    MOCO_CHECK(m == "resnet" || m == "moco_resnet" || m == "vit" || m == "moco_vit",
               "--models: unknown model '{}' (resnet, moco_resnet, vit, moco_vit)", m);
  MOCO_CHECK(!models.empty(), "--models: nothing to run");
  const int64_t E = a.integer("epochs", 1), P = a.integer("pretrain-epochs", 1);
  const int64_t PB = a.integer("pretrain-batch-size", 1);
  RunDir out(a.str("out"));
  const bool resume = !a.str("resume").empty();
  std::string study_command = command_line("compare", argv);
  if (resume) {  // the report shows the command that started the study, and this one
    std::ifstream f(out.file("config.json"));
    std::string text((std::istreambuf_iterator<char>(f)), {});
    const nn::Json cfg = nn::parse_json(text, out.file("config.json"));
    const nn::Json* c = cfg.find("command");
    if (c && c->kind == nn::Json::Kind::string && c->s.find("--resume") == std::string::npos)
      study_command = c->s + "\n" + command_line("compare", argv) + "   # resumed";
  }
  out.write_config(a.values(), study_command.substr(0, study_command.find('\n')));
  const auto t_start = Clock::now();

  // The flags every sub-run shares.
  std::vector<std::string> common = {"--dataset", a.str("dataset"), "--classes", a.str("classes"), "--workers",
                                     a.str("workers"), "--seed", a.str("seed"), "--threads", a.str("threads"),
                                     "--device", a.str("device")};
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

  std::vector<ModelResult> results;
  for (const std::string& name : models) {
    ModelResult r;
    r.name = name;
    r.family = name.find("resnet") != std::string::npos ? "resnet" : "vit";
    r.pretrained = name.rfind("moco_", 0) == 0;
    r.epochs = E;
    std::vector<std::string> ft = {"--epochs", std::to_string(E), "--batch-size", a.str("batch-size"),
                                   "--label-fraction", a.str("label-fraction")};
    if (a.integer("val-samples", 0) > 0) ft.insert(ft.end(), {"--val-samples", a.str("val-samples")});
    if (r.family == "vit") ft.insert(ft.end(), {"--warmup-epochs", std::to_string(E / 10)});
    if (r.pretrained) {
      const std::string version = a.str(r.family == "resnet" ? "moco-resnet" : "moco-vit");
      r.pretrain_epochs = P;
      r.pretrain.command = "pretrain";
      r.pretrain.dir = out.file(name + "_pretrain");
      std::vector<std::string> pa = {"--moco-version", version, "--epochs", std::to_string(P), "--batch-size",
                                     std::to_string(PB), "--data-fraction", a.str("data-fraction"), "--knn-every",
                                     a.str("knn-every"), "--out", r.pretrain.dir};
      if (a.integer("knn-every", 0) > 0) pa.push_back("--knn-init");  // the baseline: the same encoder untrained
      if (p.knn_bank > 0) pa.insert(pa.end(), {"--knn-bank", std::to_string(p.knn_bank)});
      if (p.knn_test > 0) pa.insert(pa.end(), {"--knn-test", std::to_string(p.knn_test)});
      if (version == "v3") {
        pa.insert(pa.end(), {"--warmup-epochs", std::to_string(P / 10)});
      } else {
        // The CIFAR-10 demo's lr 0.06 is for batch 512: scale it linearly. Its
        // queue of 4096 is for 50000 images: keep K at most a quarter of the
        // pretraining images (a power of two, a multiple of the batch).
        pa.insert(pa.end(), {"--lr", fmt_g(0.06 * double(PB) / 512)});
        const int64_t n = select_classes(data::open_dataset(a.str("data").empty() ? a.str("dataset")
                                                                                   : a.str("dataset") + ":" + a.str("data"),
                                                            "train"),
                                         a.str("classes"))
                              ->size();
        int64_t K = 4096;
        while (K > PB && 4 * K > int64_t(double(n) * a.real("data-fraction"))) K /= 2;
        K = std::max<int64_t>(PB, K / PB * PB);
        pa.insert(pa.end(), {"--moco-k", std::to_string(K)});
      }
      r.pretrain.argv = cat(cat(common, arch_flags(r.family)), pa);
      r.finetune.command = "finetune";
      r.finetune.dir = out.file(name);
      r.finetune.argv = cat(cat(common, ft), {"--pretrained", r.pretrain.dir, "--out", r.finetune.dir});
    } else {
      r.finetune.command = "train";
      r.finetune.dir = out.file(name);
      r.finetune.argv = cat(cat(cat(common, arch_flags(r.family)), ft), {"--out", r.finetune.dir});
    }
    for (SubRun* s : {&r.pretrain, &r.finetune}) {
      if (s->command.empty()) continue;
      std::vector<std::string> args = s->argv;
      const std::string ckpt = s->dir + "/checkpoint.safetensors";
      double before = 0;
      if (resume && fs::is_regular_file(ckpt)) {
        args = {"--resume", s->dir};  // the run's own config.json has every flag
        before = read_wall(s->dir);
      }
      std::printf("\n==== compare: %s: %s\n", name.c_str(), command_line(s->command, args).c_str());
      std::fflush(stdout);
      const auto t0 = Clock::now();
      const int rc = s->command == "pretrain"   ? pretrain_command(args)
                     : s->command == "finetune" ? supervised_command(SupervisedMode::finetune, args)
                                                : supervised_command(SupervisedMode::train, args);
      MOCO_CHECK(rc == 0, "compare: {} failed", command_line(s->command, args));
      const double secs = before + std::chrono::duration<double>(Clock::now() - t0).count();
      write_file_atomic(s->dir + "/wall_time.json", fmt::format("{{\"seconds\": {:.3f}}}\n", secs));
      r.seconds += secs;
    }
    RunDir fd(r.finetune.dir);
    r.loss = column(fd, "train_loss");
    r.val = column(fd, "val_top1");
    MOCO_CHECK(!r.val.empty(), "compare: {} has no metrics", r.finetune.dir);
    r.best = *std::max_element(r.val.begin(), r.val.end());
    r.final_top1 = r.val.back();
    r.smooth = mean_abs_change(r.val);
    if (r.pretrained) {
      r.knn_curve = column(RunDir(r.pretrain.dir), "knn_top1");
      for (double k : r.knn_curve)
        if (k >= 0) r.knn = k;
      r.knn_init = read_number(r.pretrain.dir + "/knn_init.json", "knn_top1", -1);
    }
    results.push_back(r);
  }
  const double total = std::chrono::duration<double>(Clock::now() - t_start).count();

  // curves.png: training loss and validation top-1 of the four; the kNN
  // monitor of the pretraining runs beside them.
  std::vector<Panel> panels = {Panel{"training loss (fine-tuning / supervised)", "epoch", "cross-entropy", {}},
                               Panel{"validation top-1", "epoch", "top-1 (%)", {}}};
  Panel knn_panel{"MoCo pretraining: kNN top-1 (epoch 0: random init)", "pretraining epoch", "kNN top-1 (%)", {}};
  panels[0].key = "top right";
  const std::map<std::string, std::string> colors = {
      {"resnet", "#1f77b4"}, {"moco_resnet", "#2ca02c"}, {"vit", "#ff7f0e"}, {"moco_vit", "#d62728"}};
  for (auto& r : results) {
    Series l{r.name, {}, r.loss, colors.at(r.name)}, v{r.name, {}, r.val, colors.at(r.name)};
    for (size_t i = 0; i < r.loss.size(); ++i) l.x.push_back(double(i + 1));
    for (size_t i = 0; i < r.val.size(); ++i) v.x.push_back(double(i + 1));
    panels[0].series.push_back(l);
    panels[1].series.push_back(v);
    if (r.pretrained) {
      Series k{r.name, {}, {}, colors.at(r.name)};
      if (r.knn_init >= 0) k.x.push_back(0), k.y.push_back(r.knn_init);
      for (size_t i = 0; i < r.knn_curve.size(); ++i)
        if (r.knn_curve[i] >= 0) k.x.push_back(double(i + 1)), k.y.push_back(r.knn_curve[i]);
      if (!k.x.empty()) knn_panel.series.push_back(k);
    }
  }
  if (!knn_panel.series.empty()) panels.push_back(knn_panel);
  std::string plot_note;
  try {
    plot_png(out.file("curves.png"), panels, 600 * int(panels.size()), 450);
  } catch (const Error& e) {
    plot_note = std::string("curves.png was not written: ") + e.what();
    std::fprintf(stderr, "compare: %s\n", plot_note.c_str());
  }

  // report.md
  data::DatasetPtr task = select_classes(data::open_dataset(a.str("data").empty() ? a.str("dataset")
                                                                                  : a.str("dataset") + ":" + a.str("data"),
                                                            "train"),
                                         a.str("classes"));
  std::string classes;
  for (size_t i = 0; i < task->classes().size(); ++i)
    classes += fmt::format("{}{} ({})", i ? ", " : "", task->classes()[i], split_csv(a.str("classes"))[i]);
  std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M", std::localtime(&now));
  std::string md = fmt::format("# moco compare: supervised vs MoCo-pretrained, ResNet vs ViT\n\n"
                               "Preset `{}`, {}; {} CPU threads; total wall time {}.\n\n",
                               a.str("preset"), date, get_num_threads(), fmt_duration(total));
  md += fmt::format("Data: `{}`, classes {}. Fine-tuning uses {:g}% of each class's training labels; MoCo "
                    "pretraining uses {:g}% of the task's training images without labels. Validation: the test "
                    "split of the same classes.\n\n",
                    a.str("data").empty() ? a.str("dataset") : a.str("dataset") + ":" + a.str("data"), classes,
                    100 * a.real("label-fraction"), 100 * a.real("data-fraction"));
  md += "| model | pretraining | pretrain epochs | fine-tune epochs | best top-1 | final top-1 | smoothness | "
        "wall time |\n|---|---|---|---|---|---|---|---|\n";
  for (auto& r : results)
    md += fmt::format("| {} | {} | {} | {} | {:.2f}% | {:.2f}% | {:.2f} | {} |\n", r.name,
                      r.pretrained ? fmt::format("MoCo {}{}", a.str(r.family == "resnet" ? "moco-resnet" : "moco-vit"),
                                                 r.knn < 0         ? std::string()
                                                 : r.knn_init < 0 ? fmt::format(" (kNN {:.1f}%)", r.knn)
                                                                  : fmt::format(" (kNN {:.1f}%, at init {:.1f}%)", r.knn,
                                                                                r.knn_init))
                                   : std::string("none"),
                      r.pretrain_epochs, r.epochs, r.best, r.final_top1, r.smooth, fmt_duration(r.seconds));
  md += "\n*smoothness*: the mean absolute change of validation top-1 from one epoch to the next, in points "
        "(lower is smoother). *wall time*: pretraining + fine-tuning (or supervised training), evaluation "
        "included. kNN: the pretrained encoder's kNN top-1 (k 200, T 0.1) on the validation split after "
        "pretraining.\n\n";
  md += plot_note.empty() ? "![training curves](curves.png)\n\n" : "(" + plot_note + ")\n\n";
  md += reading(results, a.str("preset"));
  md += "## Models\n\n";
  md += fmt::format("* resnet, moco_resnet: ResNet-18 with the small-image stem (3x3 conv, no max-pool), base width "
                    "{}.\n* vit, moco_vit: ViT (patch {}, width {}, depth {}, {} heads), cls token, fixed 2-D sin-cos "
                    "position embedding.\n* Fine-tuning: {} epochs, batch {}; ResNets SGD (momentum 0.9, lr 0.1 x "
                    "batch/256, wd 5e-4, cosine), ViTs AdamW (lr 5e-4 x batch/512, wd 0.05, warm-up then cosine).\n\n",
                    a.str("width"), a.integer("patch-size", 0) > 0 ? a.str("patch-size") : std::string("4 (auto)"),
                    a.str("vit-dim"), a.str("vit-depth"), a.str("vit-heads"), E, a.str("batch-size"));
  md += "## Commands\n\nThe study:\n\n```sh\n" + study_command +
        "\n```\n\nwhich ran, in this order (each folder holds config.json, metrics.jsonl / metrics.csv and "
        "checkpoint.safetensors):\n\n```sh\n";
  for (auto& r : results)
    for (SubRun* s : {&r.pretrain, &r.finetune})
      if (!s->command.empty()) md += command_line(s->command, s->argv) + "\n";
  md += "```\n";
  write_file_atomic(out.file("report.md"), md);

  std::printf("\n==== compare: done in %s; %s\n\n", fmt_duration(total).c_str(), out.file("report.md").c_str());
  std::printf("%-12s %-10s %8s %8s %8s %8s %10s\n", "model", "pretrain", "epochs", "best", "final", "smooth", "time");
  for (auto& r : results)
    std::printf("%-12s %-10s %8lld %7.2f%% %7.2f%% %8.2f %10s\n", r.name.c_str(),
                r.pretrained ? fmt::format("{} ep", r.pretrain_epochs).c_str() : "none", (long long)r.epochs, r.best,
                r.final_top1, r.smooth, fmt_duration(r.seconds).c_str());
  if (plot_note.empty()) std::printf("curves: %s\n", out.file("curves.png").c_str());
  return 0;
}

}  // namespace moco::cli
