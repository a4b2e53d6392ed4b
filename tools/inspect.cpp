#include "tools/inspect.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "contrastive/contrastive.h"
#include "contrastive/inspect.h"
#include "data/io.h"
#include "data/loader.h"
#include "data/rng.h"
#include "data/transforms.h"
#include "nn/json.h"
#include "nn/state_dict.h"
#include "tensor/backend.h"
#include "tools/cli_common.h"
#include "tools/plot.h"
#include "tools/progress.h"
#include "train/run_dir.h"

namespace moco::cli {

namespace fs = std::filesystem;

// ------------------------------------------------------------------ sheet

int sheet_scale(int side) {
  MOCO_CHECK(side > 0, "sheet_scale: image side {}", side);
  return std::max(1, (56 + side - 1) / side);
}

data::Image retrieval_sheet(const std::vector<std::vector<SheetCell>>& rows, int scale) {
  MOCO_CHECK(!rows.empty() && scale >= 1, "retrieval_sheet: {} rows at scale {}", rows.size(), scale);
  int side = 0;
  size_t columns = 0;
  for (auto& r : rows) {
    columns = std::max(columns, r.size());
    for (auto& c : r) side = std::max({side, c.image.h, c.image.w});
  }
  MOCO_CHECK(side > 0, "retrieval_sheet: no images");
  SheetLayout L;
  L.cell = side * scale;
  data::Image sheet(L.height(int(rows.size())), L.width(int(columns)), 3);
  std::fill(sheet.px.begin(), sheet.px.end(), uint8_t(40));
  struct Rgb {
    uint8_t r, g, b;
  };
  const Rgb query{200, 200, 200}, same{0, 158, 115}, other{213, 94, 0};  // Okabe-Ito bluish green, vermillion
  auto fill = [&](int y0, int x0, int h, int w, Rgb c) {
    for (int y = y0; y < y0 + h; ++y)
      for (int x = x0; x < x0 + w; ++x) {
        sheet.at(y, x, 0) = c.r;
        sheet.at(y, x, 1) = c.g;
        sheet.at(y, x, 2) = c.b;
      }
  };
  for (size_t r = 0; r < rows.size(); ++r)
    for (size_t c = 0; c < rows[r].size(); ++c) {
      const SheetCell& cell = rows[r][c];
      const Rgb colour = cell.kind == SheetCell::query ? query : cell.kind == SheetCell::same ? same : other;
      const int fy = L.frame_y(int(r)), fx = L.frame_x(int(c));
      fill(fy, fx, L.cell + 2 * L.frame, L.cell + 2 * L.frame, colour);
      const int iy = fy + L.frame, ix = fx + L.frame;
      fill(iy, ix, L.cell, L.cell, {0, 0, 0});
      const data::Image& im = cell.image;
      MOCO_CHECK(im.c == 1 || im.c == 3, "retrieval_sheet: images must have 1 or 3 channels, got {}", im.c);
      // Centred when smaller than the cell (a non-square image).
      const int oy = iy + (L.cell - im.h * scale) / 2, ox = ix + (L.cell - im.w * scale) / 2;
      for (int y = 0; y < im.h * scale; ++y)
        for (int x = 0; x < im.w * scale; ++x)
          for (int ch = 0; ch < 3; ++ch) sheet.at(oy + y, ox + x, ch) = im.at(y / scale, x / scale, im.c == 3 ? ch : 0);
      if (cell.kind == SheetCell::query) continue;
      // The mark overlaps the frame's top left corner, so it reads as part of the frame.
      const int m = std::max(8, L.cell / 5), t = 2;
      fill(fy, fx, m, m, colour);
      if (cell.kind == SheetCell::other) fill(fy + t, fx + t, m - 2 * t, m - 2 * t, {255, 255, 255});
    }
  return sheet;
}

namespace {

// ------------------------------------------------------------- helpers

// The string values of the run's config.json beside the checkpoint ({} when there is none).
std::map<std::string, std::string> run_config(const std::string& checkpoint) {
  std::map<std::string, std::string> out;
  const fs::path dir = fs::path(checkpoint).parent_path();
  const std::string path = ((dir.empty() ? fs::path(".") : dir) / "config.json").string();
  if (!fs::is_regular_file(path)) return out;
  return train::read_run_config(path).flags;
}

std::string get(const std::map<std::string, std::string>& m, const std::string& k, const std::string& def = "") {
  auto it = m.find(k);
  return it == m.end() ? def : it->second;
}

// The checkpoint, or a UsageError saying why `path` is not one of moco pretrain.
Checkpoint load_moco_checkpoint(const std::string& path) {
  MOCO_USAGE_CHECK(fs::is_regular_file(path), "no checkpoint at {} (give the run folder of a moco pretrain run or its "
                                              "checkpoint.safetensors)", path);
  Checkpoint c;
  try {
    c = load_checkpoint(path);
  } catch (const Error& e) {
    usage_fail("{} is not a checkpoint (a safetensors file of moco pretrain): {}", path, e.what());
  }
  MOCO_USAGE_CHECK(c.meta.count("format"), "{} has no moco.cpp metadata (a plain state dict?): moco inspect needs a "
                                           "checkpoint of moco pretrain", path);
  const std::string kind = get(c.meta, "kind");
  MOCO_USAGE_CHECK(kind == "moco", "{} is not a MoCo checkpoint: it was written by moco {} (kind '{}'); moco inspect "
                                   "needs a checkpoint of moco pretrain, with its query and key encoders",
                   path, get(c.meta, "command", kind.empty() ? "?" : kind), kind);
  MOCO_USAGE_CHECK(c.meta.count("moco_version"), "{}: the checkpoint's metadata lacks moco_version", path);
  return c;
}

int64_t tensor_dim(const Checkpoint& c, const std::string& name, int64_t d) {
  return nn::find_tensor(c.model, name, "the checkpoint").size(d);
}

// The MoCo model of the checkpoint with its weights, key encoder and queue.
// Sizes come from the tensors; the recipe's switches (--bn-splits, T) from
// the run's configuration when there is one.
std::shared_ptr<contrastive::MoCo> rebuild_moco(const Checkpoint& c, const std::map<std::string, std::string>& cfg,
                                                uint64_t seed) {
  const std::string version = meta_str(c.meta, "moco_version");
  ModelSpec spec = ModelSpec::from_meta(c.meta);
  std::shared_ptr<contrastive::MoCo> model;
  if (version == "v3") {
    contrastive::MoCoV3Config v;
    v.mlp_dim = tensor_dim(c, "predictor.0.weight", 0);
    v.dim = tensor_dim(c, "predictor.0.weight", 1);
    v.T = std::stod(get(cfg, "moco-t", "1"));
    model = std::make_shared<contrastive::MoCoV3>(make_backbone(spec), v);
  } else {
    contrastive::MoCoV2Config v;
    v.dim = tensor_dim(c, "queue", 0);
    v.K = tensor_dim(c, "queue", 1);
    v.mlp = version == "v2";
    v.T = std::stod(get(cfg, "moco-t", "1"));
    v.bn_splits = std::stoll(get(cfg, "bn-splits", "1"));
    v.shuffle_seed = seed;
    model = std::make_shared<contrastive::MoCoV2>(make_backbone(spec), v);
  }
  model->load_checkpoint_state(c.model);
  return model;
}

// The augmentation the run trained with (moco pretrain's choice).
data::Pipeline training_pipeline(const std::string& version, const std::map<std::string, std::string>& cfg,
                                 const DataSetup& d) {
  data::PresetOptions po = preset_options(d);
  const std::string crop = get(cfg, "crop-min", "auto");
  if (crop != "auto") po.crop_min = std::stod(crop);
  if (version == "v3") return data::moco_v3(po);
  if (get(cfg, "recipe") == "cifar-demo") return data::moco_cifar_demo(po);
  const bool plus = cfg.count("aug-plus") ? get(cfg, "aug-plus") == "1" : version == "v2";
  return plus ? data::moco_v2(po) : data::moco_v1(po);
}

std::string fmt_pct(double num, double den) { return den > 0 ? fmt::format("{:.1f}%", 100.0 * num / den) : "-"; }

std::string summary_row(const std::string& name, const contrastive::Summary& s) {
  return fmt::format("| {} | {} | {:.4f} | {:.4f} | {:.4f} | {:.4f} | {:.4f} | {:.4f} | {:.4f} |\n", name, s.n, s.mean,
                     s.std, s.min, s.p05, s.p50, s.p95, s.max);
}

std::string summary_json(const contrastive::Summary& s) {
  return fmt::format("{{\"n\": {}, \"mean\": {:.6f}, \"std\": {:.6f}, \"min\": {:.6f}, \"p05\": {:.6f}, \"p50\": "
                     "{:.6f}, \"p95\": {:.6f}, \"max\": {:.6f}}}",
                     s.n, s.mean, s.std, s.min, s.p05, s.p50, s.p95, s.max);
}

Series histogram_series(const std::string& name, const contrastive::Histogram& h, bool density,
                        const std::string& colour) {
  Series s(name, {}, {}, colour);
  const std::vector<double> d = h.density();
  for (size_t i = 0; i < h.counts.size(); ++i) {
    s.x.push_back(h.centre(i));
    s.y.push_back(density ? d[i] : double(h.counts[i]));
  }
  s.style = "histeps lw 2";
  return s;
}

}  // namespace

// ---------------------------------------------------------------- command

int inspect_command(const std::vector<std::string>& argv) {
  Args a("inspect",
         "What a MoCo encoder learned: a retrieval sheet (test images, each beside its nearest train images in "
         "feature space, marked same class or not), histograms of the positive and negative logits of a training "
         "batch (as cosine similarities), of the queue's ages and of the similarities between its keys (v1/v2), "
         "and a short report with the kNN top-1 of moco knn's protocol. Usage: moco inspect RUN_OR_CHECKPOINT "
         "[options]. The data set, classes and image size come from the run's config.json and the checkpoint; "
         "flags override them. Writes retrieval.png, histograms.png, inspect.md and inspect.json to --out.");
  a.opt("dataset", "", "data set (default: the run's)")
      .opt("data", "", "the data set's folder (default: the run's)")
      .opt("classes", "", "classes, by index or name (default: the run's)")
      .opt("image-size", "0", "model input side (default: the checkpoint's)")
      .opt("channels", "0", "model input channels (default: the checkpoint's)")
      .opt("workers", "2", "data loader threads")
      .opt("batch-size", "auto", "images in the batch whose logits are histogrammed (auto: the run's batch size)")
      .opt("queries", "8", "test images on the retrieval sheet (rows)")
      .opt("neighbours", "8", "nearest train images per query (columns after the query)")
      .opt("knn-k", "200", "kNN: neighbours that vote")
      .opt("knn-t", "0.1", "kNN: temperature of the similarity weights")
      .opt("knn-bank", "0", "train images in the memory bank and searched for neighbours (0: all)")
      .opt("knn-test", "0", "test images classified by kNN and drawn from as queries (0: all)")
      .opt("queue-pairs", "200000", "pairs of queued keys whose cosine similarity is histogrammed (all when fewer)")
      .opt("seed", "0", "seed of the queries, the batch, its augmentation and the subsets")
      .opt("out", "", "folder to write to (default: inspect/ beside the checkpoint)")
      .opt("threads", "0", "CPU threads (0: OMP_NUM_THREADS or all cores)")
      .opt("device", "cpu", "cpu | cuda (cuda:N)")
      .alias("-b", "batch-size")
      .alias("-j", "workers");
  // Every option takes a value, so anything else that does not start with '-' is the checkpoint.
  std::vector<std::string> flags, positional;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& s = argv[i];
    if (s.rfind("-", 0) == 0) {
      flags.push_back(s);
      if (s != "--help" && s != "-h" && s.find('=') == std::string::npos && i + 1 < argv.size())
        flags.push_back(argv[++i]);
    } else {
      positional.push_back(s);
    }
  }
  if (!a.parse(flags)) return 0;
  MOCO_USAGE_CHECK(positional.size() == 1, "moco inspect needs one run folder or checkpoint, got {}: moco inspect "
                                           "RUN_OR_CHECKPOINT [options] (see --help)", positional.size());
  const std::string path = checkpoint_file(positional[0]);
  const Checkpoint ckpt = load_moco_checkpoint(path);
  const std::string version = meta_str(ckpt.meta, "moco_version");
  const bool queue = version != "v3";

  // Data: the run's data set and classes (config.json), the model's input size (checkpoint).
  const std::map<std::string, std::string> cfg = run_config(path);
  auto adopt = [&](const char* flag, const std::string& v) {
    if (!a.given(flag)) a.set(flag, v);
  };
  if (cfg.count("dataset")) {
    adopt("dataset", get(cfg, "dataset"));
    adopt("data", get(cfg, "data"));
    adopt("classes", get(cfg, "classes"));
  } else {  // a checkpoint away from its run folder: its metadata names the data set, not the classes
    const std::string spec = get(ckpt.meta, "dataset", "fashion-mnist");
    const size_t colon = spec.find(':');
    adopt("dataset", spec.substr(0, colon));
    adopt("data", colon == std::string::npos ? "" : spec.substr(colon + 1));
  }
  Pretrained pre = load_pretrained(path);
  {
    const ModelSpec s = ModelSpec::from_meta(ckpt.meta);
    adopt("image-size", std::to_string(s.img_size));
    adopt("channels", std::to_string(s.in_chans));
  }
  const int threads = int(a.integer("threads", 0, 4096));
  if (threads > 0) set_num_threads(threads);
  const Device dev = Device::parse(a.str("device"));
  if (!dev.is_cpu()) (void)backend_for(dev);
  const uint64_t seed = uint64_t(a.integer("seed", 0));
  const int64_t n_queries = a.integer("queries", 1, 1000), n_neigh = a.integer("neighbours", 1, 1000);
  const int64_t knn_k = a.integer("knn-k", 1);
  const double knn_t = a.real("knn-t", 1e-9);
  DataSetup d = open_data(a, 1.0, seed);  // the whole train split of the run's classes is the bank, as in moco knn
  const int64_t C = d.train->num_classes();

  // The model for the logits, and what the batch must fit, checked before anything is computed or written.
  std::shared_ptr<contrastive::MoCo> model = rebuild_moco(ckpt, cfg, seed);
  model->to(dev);
  const std::string bs = a.str("batch-size");
  const int64_t B = bs == "auto" ? std::min<int64_t>(cfg.count("batch-size") ? std::stoll(get(cfg, "batch-size")) : 256,
                                                     d.train->size())
                                 : a.integer("batch-size", 2, 1 << 24);
  MOCO_USAGE_CHECK(B >= 2 && B <= d.train->size(), "--batch-size {} must be between 2 and the {} training images", B,
                   d.train->size());
  int64_t K = 0, key_dim = 0;
  if (auto* v2 = dynamic_cast<contrastive::MoCoV2*>(model.get())) {
    K = v2->queue().size();
    key_dim = v2->queue().dim();
    MOCO_USAGE_CHECK(K % B == 0, "--batch-size {} must divide the queue's {} keys (the keys of a step are enqueued "
                                 "together)", B, K);
    MOCO_USAGE_CHECK(B % v2->config().bn_splits == 0, "--batch-size {} must be a multiple of the run's --bn-splits {}",
                     B, v2->config().bn_splits);
  }

  const std::string out_dir =
      a.str("out").empty() ? (fs::path(path).parent_path() / "inspect").string() : a.str("out");
  fs::create_directories(out_dir);
  auto out_file = [&](const std::string& name) { return (fs::path(out_dir) / name).string(); };

  // ---- features: the query encoder's backbone, pooled, in eval mode (moco knn's protocol)
  ModelSpec spec = ModelSpec::from_meta(ckpt.meta);
  spec.num_classes = 0;
  std::shared_ptr<nn::Backbone> backbone = make_backbone(spec);
  nn::load_into(backbone->state_dict(), pre.backbone, true, "the checkpoint " + path);
  backbone->to(dev);
  backbone->eval();
  data::DatasetPtr bank_ds = cap_images(d.train, a.integer("knn-bank", 0), seed);
  data::DatasetPtr test_ds = cap_images(d.val, a.integer("knn-test", 0), seed + 1);
  const int64_t eval_batch = 256;  // moco knn's default --batch-size
  data::LoaderOptions lo;
  lo.batch_size = eval_batch;
  lo.shuffle = false;
  lo.drop_last = false;
  lo.num_workers = d.workers;
  const data::Pipeline eval = data::eval_transform(preset_options(d));
  data::DataLoader mem(bank_ds, eval, lo), tst(test_ds, eval, lo);
  auto batches = [&](int64_t n) { return (n + eval_batch - 1) / eval_batch; };
  contrastive::FeatureBank bank, test;
  {
    Progress bar("features", batches(bank_ds->size()) + batches(test_ds->size()), eval_batch);
    contrastive::FeatureFn f = [&](const Tensor& x) {
      Tensor y = backbone->features(to_device(x, dev));
      bar.step({});
      return y;
    };
    bank = contrastive::extract_feature_bank(f, mem, C);
    test = contrastive::extract_feature_bank(f, tst, C);
    bar.done();
  }
  const std::vector<int64_t> bank_labels = bank.labels.to_vector<int64_t>(), test_labels = test.labels.to_vector<int64_t>();
  // kNN top-1 as knn_evaluate computes it: the test features a loader batch at a time.
  int64_t correct = 0;
  for (int64_t r0 = 0; r0 < test.features.size(0); r0 += eval_batch) {
    const int64_t rows = std::min(eval_batch, test.features.size(0) - r0);
    const std::vector<int64_t> pred =
        contrastive::knn_predict(test.features.narrow(0, r0, rows), bank, knn_k, knn_t).to_vector<int64_t>();
    for (int64_t i = 0; i < rows; ++i) correct += pred[size_t(i)] == test_labels[size_t(r0 + i)];
  }
  const int64_t n_test = test.features.size(0);
  const double knn_top1 = 100.0 * double(correct) / double(std::max<int64_t>(n_test, 1));

  // ---- the retrieval sheet: seeded test queries and their nearest bank images
  std::vector<int64_t> qidx(size_t(test_ds->size()));
  std::iota(qidx.begin(), qidx.end(), int64_t(0));
  {
    Generator gen(data::mix_seed(seed, data::Stream::shuffle, 0x1A5CEC7));
    const int64_t n = std::min<int64_t>(n_queries, int64_t(qidx.size()));
    for (int64_t i = 0; i < n; ++i) std::swap(qidx[size_t(i)], qidx[size_t(gen.randint(i, int64_t(qidx.size())))]);
    qidx.resize(size_t(n));
  }
  const contrastive::Neighbours nb = contrastive::nearest_neighbours(
      index_select(test.features, 0, Tensor::from_vector(qidx, {int64_t(qidx.size())}).to(test.features.device())),
      bank.features, n_neigh);
  data::PresetOptions show_opt = preset_options(d);
  show_opt.normalize = false;
  show_opt.channels = 3;
  const data::Pipeline show = data::eval_transform(show_opt);
  auto shown = [&](const data::Dataset& ds, int64_t i) {
    Generator g(0);
    return data::to_u8(show(ds.image(i), g)[0]);
  };
  std::vector<std::vector<SheetCell>> sheet_rows;
  int64_t agree = 0;
  std::vector<int64_t> row_agree;
  for (size_t r = 0; r < qidx.size(); ++r) {
    const int64_t ql = test_labels[size_t(qidx[r])];
    std::vector<SheetCell> row = {{shown(*test_ds, qidx[r]), SheetCell::query}};
    int64_t same = 0;
    for (int64_t j = 0; j < nb.k; ++j) {
      const bool s = bank_labels[size_t(nb.at(int64_t(r), j))] == ql;
      same += s;
      row.push_back({shown(*bank_ds, nb.at(int64_t(r), j)), s ? SheetCell::same : SheetCell::other});
    }
    row_agree.push_back(same);
    agree += same;
    sheet_rows.push_back(std::move(row));
  }
  const std::string sheet_png = out_file("retrieval.png");
  data::write_png(sheet_png, retrieval_sheet(sheet_rows, sheet_scale(d.size)));

  // ---- one training batch through the model as it trains: logits as cosines
  std::optional<double> age_mean, age_max, sim_mean;
  std::vector<double> ages, pair_sims;
  if (auto* v2 = dynamic_cast<contrastive::MoCoV2*>(model.get())) {
    // The checkpoint's queue, before the batch's keys enter it.
    sim_mean = contrastive::queue_sim_mean(v2->queue());
    pair_sims = contrastive::pairwise_cosines(v2->queue().keys(), a.integer("queue-pairs", 1), seed);
    for (auto& [n, t] : ckpt.model)
      if (n == "queue_age") {
        for (int64_t v : t.to_vector<int64_t>()) ages.push_back(double(v));
        age_mean = contrastive::queue_age_mean(v2->queue());
        age_max = *std::max_element(ages.begin(), ages.end());
      }
  }
  const data::Pipeline train_pipe = training_pipeline(version, cfg, d);
  contrastive::LogitCosines lc;
  {
    data::LoaderOptions tl;
    tl.batch_size = B;
    tl.num_workers = d.workers;
    tl.seed = seed;
    data::DataLoader loader(d.train, train_pipe, tl);
    loader.start_epoch(0);
    data::Batch b;
    MOCO_CHECK(loader.next(b), "moco inspect: the training split gave no batch of {}", B);
    model->train();
    model->set_momentum(1.0);  // θk ← 1·θk + 0·θq: the key encoder stays the checkpoint's
    NoGradGuard no_grad;
    contrastive::MoCoOutput o = model->forward_views(to_device(b.views[0], dev), to_device(b.views[1], dev));
    lc = contrastive::logit_cosines(o.logits, o.labels, o.T);
  }
  const contrastive::Summary pos = contrastive::summarize(lc.pos), neg = contrastive::summarize(lc.neg);
  const contrastive::Summary pairs = contrastive::summarize(pair_sims), age = contrastive::summarize(ages);

  // ---- histograms.png
  std::vector<Panel> panels;
  {
    Panel p;
    p.title = fmt::format("logits of a batch of {} as cosine similarities", B);
    p.xlabel = "cosine similarity";
    p.ylabel = "density";
    p.key = "top left";
    // A batch has few positives: wider bins for them (densities stay comparable), so their curve is not all spikes.
    const int64_t pos_bins = std::clamp<int64_t>(int64_t(lc.pos.size()) / 4, 20, 100);
    p.series.push_back(histogram_series(queue ? "positive q.k+" : "positive q1.k2 (diagonal)",
                                        contrastive::histogram(lc.pos, -1, 1, pos_bins), true, "#009E73"));
    p.series.push_back(histogram_series(queue ? "negative q.queue" : "negative q1.k2 (off-diagonal)",
                                        contrastive::histogram(lc.neg, -1, 1, 100), true, "#D55E00"));
    panels.push_back(p);
  }
  if (!ages.empty()) {
    Panel p;
    p.title = fmt::format("ages of the {} queued keys", K);
    p.xlabel = "age (training steps since enqueued)";
    p.ylabel = "keys";
    p.key = "off";
    p.yrange = "[0:*]";
    const int64_t top = int64_t(age.max);
    const int64_t bins = top + 1 <= 200 ? top + 1 : 100;
    p.series.push_back(histogram_series("keys", contrastive::histogram(ages, -0.5, double(top) + 0.5, bins), false,
                                        "#0072B2"));
    panels.push_back(p);
  }
  if (!pair_sims.empty()) {
    Panel p;
    p.title = fmt::format("cosine similarity between queued keys ({} pairs)", pair_sims.size());
    p.xlabel = "cosine similarity";
    p.ylabel = "density";
    p.key = "top left";
    p.series.push_back(histogram_series("pairs of keys", contrastive::histogram(pair_sims, -1, 1, 100), true,
                                        "#0072B2"));
    panels.push_back(p);
  }
  const std::string hist_png = out_file("histograms.png");
  std::string plot_note;
  try {
    plot_png(hist_png, panels, 450 * int(panels.size()), 380);
  } catch (const std::exception& e) {  // no gnuplot: the report and the sheet still stand
    plot_note = fmt::format("histograms.png not drawn: {}", e.what());
  }

  // ---- inspect.md (also printed) and inspect.json
  const std::vector<std::string>& names = d.classes;
  auto cls = [&](int64_t l) { return l >= 0 && l < int64_t(names.size()) ? names[size_t(l)] : std::to_string(l); };
  std::string knn_cmd = fmt::format("moco knn --pretrained {} --dataset {}", path, a.str("dataset"));
  if (!a.str("data").empty()) knn_cmd += " --data " + a.str("data");
  if (!a.str("classes").empty()) knn_cmd += " --classes " + a.str("classes");
  if (a.integer("knn-bank", 0) > 0) knn_cmd += fmt::format(" --knn-bank {}", a.integer("knn-bank", 0));
  if (a.integer("knn-test", 0) > 0) knn_cmd += fmt::format(" --knn-test {}", a.integer("knn-test", 0));
  if (seed != 0) knn_cmd += fmt::format(" --seed {}", seed);
  std::string md = fmt::format("# moco inspect: {}\n\n", path);
  md += fmt::format("MoCo {}, {}; epoch {} of {}.\n\nData: {}\n\n", version, spec.describe(), ckpt.epoch(),
                    get(ckpt.meta, "epochs", "?"), d.describe());
  if (cfg.empty())
    md += "No config.json beside the checkpoint: the data set comes from its metadata, every class of it is used "
          "unless --classes says otherwise, and the recipe's switches take their defaults.\n\n";
  md += "## kNN\n\n";
  md += fmt::format("kNN top-1 on the test split: **{:.2f}%** (k {}, T {:g}; {} test images against a bank of {} "
                    "train images; the query encoder's pooled backbone features in eval mode, as `{}`).\n\n",
                    knn_top1, knn_k, knn_t, n_test, bank.features.size(0), knn_cmd);
  md += "## Logits of a training batch\n\n";
  md += fmt::format(
      "One batch of {} training images, two views each with the run's augmentation ({}), through the model as it "
      "trains: train mode, so BatchNorm uses the batch's statistics{}; the model is a copy loaded from the "
      "checkpoint, the momentum update is skipped (the key encoder stays the checkpoint's) and nothing is written "
      "back. Logits are shown as cosine similarities (logit x T), {}.\n\n",
      B, train_pipe.name, queue ? fmt::format(" (keys with shuffle-BN, {} groups)",
                                              dynamic_cast<contrastive::MoCoV2&>(*model).config().bn_splits)
                                : "",
      queue ? fmt::format("the positive q.k+ against the {} keys of the queue", K)
            : "both directions: q1.k2 and q2.k1, the diagonal positive and the rest of the batch negative");
  md += "| logits | n | mean | std | min | 5% | median | 95% | max |\n|---|---|---|---|---|---|---|---|---|\n";
  md += summary_row("positive", pos) + summary_row("negative", neg) + "\n";
  md += fmt::format("Negatives above their positive: {} of {} ({}); queries with at least one: {} of {} ({}), so "
                    "the instance discrimination top-1 of this batch is {}.\n\n",
                    lc.neg_above_pos, lc.neg.size(), fmt_pct(double(lc.neg_above_pos), double(lc.neg.size())),
                    lc.rows_beaten, lc.rows, fmt_pct(double(lc.rows_beaten), double(lc.rows)),
                    fmt_pct(double(lc.rows - lc.rows_beaten), double(lc.rows)));
  if (queue) {
    md += fmt::format("## Queue\n\n{} keys of {} dimensions.\n\n", K, key_dim);
    if (age_mean)
      md += fmt::format("Ages (training steps since a key was enqueued): mean {:.1f}, max {:.0f} (a full queue "
                        "refreshed {} keys a step has mean {:.1f}).\n\n",
                        *age_mean, *age_max, B, (double(K) / double(B) - 1) / 2);
    else
      md += "Ages: the checkpoint has no `queue_age` (written before ages were saved, or by the official code): "
            "skipped.\n\n";
    md += fmt::format("Cosine similarity between two different keys: mean {:.4f} over all pairs; over {} {}pairs: "
                      "5% {:.4f}, median {:.4f}, 95% {:.4f}, min {:.4f}, max {:.4f}.\n\n",
                      *sim_mean, pairs.n, double(pairs.n) < 0.5 * double(K) * double(K - 1) ? "sampled " : "",
                      pairs.p05, pairs.p50, pairs.p95, pairs.min, pairs.max);
  } else {
    md += "## Queue\n\nMoCo v3 has no queue: its negatives are the other images of the batch.\n\n";
  }
  md += "## Retrieval sheet\n\n";
  md += fmt::format(
      "`retrieval.png`: {} test images (rows, seed {}), each followed by its {} nearest train images by cosine "
      "similarity of the features above. Frames: grey = the query; bluish green with a filled corner square = the "
      "query's class; vermillion with a hollow corner square = another class.\n\n",
      qidx.size(), seed, nb.k);
  md += "| row | query (test index: class) | same class | neighbours: class (cosine), nearest first |\n|---|---|---|---|\n";
  for (size_t r = 0; r < qidx.size(); ++r) {
    const int64_t ql = test_labels[size_t(qidx[r])];
    std::string cells;
    for (int64_t j = 0; j < nb.k; ++j) {
      const int64_t bl = bank_labels[size_t(nb.at(int64_t(r), j))];
      cells += fmt::format("{}{} {} ({:.3f})", j ? ", " : "", bl == ql ? "+" : "x", cls(bl), nb.sim_at(int64_t(r), j));
    }
    md += fmt::format("| {} | {}: {} | {} of {} | {} |\n", r + 1, qidx[r], cls(ql), row_agree[r], nb.k, cells);
  }
  md += fmt::format("\nNeighbour agreement: {} of {} neighbours share their query's class ({}).\n\n", agree,
                    int64_t(qidx.size()) * nb.k, fmt_pct(double(agree), double(int64_t(qidx.size()) * nb.k)));
  md += plot_note.empty() ? "`histograms.png`: the logits' distributions" +
                                std::string(queue ? ", the queue's ages and the similarities between its keys.\n"
                                                  : ".\n")
                          : "note: " + plot_note + "\n";
  write_file_atomic(out_file("inspect.md"), md);

  std::string js = "{";
  js += fmt::format("\"checkpoint\": \"{}\", \"moco_version\": \"{}\", \"epoch\": {}, \"dataset\": \"{}\", ",
                    json_escape(path), version, ckpt.epoch(), json_escape(d.spec));
  js += fmt::format("\"knn_top1\": {:.4f}, \"knn_k\": {}, \"knn_t\": {}, \"knn_test\": {}, \"knn_bank\": {}, ", knn_top1,
                    knn_k, knn_t, n_test, bank.features.size(0));
  js += fmt::format("\"batch\": {}, \"logit_pos\": {}, \"logit_neg\": {}, \"neg_above_pos\": {}, \"rows_beaten\": {}, ",
                    B, summary_json(pos), summary_json(neg), lc.neg_above_pos, lc.rows_beaten);
  if (queue) {
    js += fmt::format("\"queue_k\": {}, \"queue_sim_mean\": {:.6f}, \"queue_pairs\": {}, ", K, *sim_mean,
                      summary_json(pairs));
    if (age_mean) js += fmt::format("\"queue_age_mean\": {:.4f}, \"queue_age_max\": {:.0f}, ", *age_mean, *age_max);
  }
  js += "\"queries\": [";
  for (size_t r = 0; r < qidx.size(); ++r) {
    js += fmt::format("{}{{\"test_index\": {}, \"label\": {}, \"neighbours\": [", r ? ", " : "", qidx[r],
                      test_labels[size_t(qidx[r])]);
    for (int64_t j = 0; j < nb.k; ++j) {
      const int64_t bi = nb.at(int64_t(r), j);
      js += fmt::format("{}{{\"bank_index\": {}, \"label\": {}, \"cosine\": {:.6f}, \"same\": {}}}", j ? ", " : "", bi,
                        bank_labels[size_t(bi)], nb.sim_at(int64_t(r), j),
                        bank_labels[size_t(bi)] == test_labels[size_t(qidx[r])] ? "true" : "false");
    }
    js += "]}";
  }
  js += fmt::format("], \"agreement\": {}}}\n", agree);
  write_file_atomic(out_file("inspect.json"), js);

  std::printf("%s\nmoco inspect: wrote %s, %s, inspect.md, inspect.json\n", md.c_str(), sheet_png.c_str(),
              plot_note.empty() ? hist_png.c_str() : "(no histograms.png)");
  return 0;
}

}  // namespace moco::cli
