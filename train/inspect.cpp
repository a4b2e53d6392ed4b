#include "train/inspect.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "contrastive/contrastive.h"
#include "contrastive/inspect.h"
#include "data/io.h"
#include "data/loader.h"
#include "data/rng.h"
#include "data/transforms.h"
#include "nn/state_dict.h"
#include "train/model_spec.h"
#include "train/retrieval_sheet.h"
#include "train/run_config.h"
#include "train/run_dir.h"

namespace moco::train {

namespace fs = std::filesystem;
// Keys in the order written, as readers of inspect.json have always seen them.
using json = nlohmann::ordered_json;

std::map<std::string, std::string> run_config_beside(const std::string& checkpoint) {
  std::map<std::string, std::string> out;
  const fs::path dir = fs::path(checkpoint).parent_path();
  const std::string path = ((dir.empty() ? fs::path(".") : dir) / "config.json").string();
  if (!fs::is_regular_file(path)) return out;
  return read_run_config(path).flags;
}

namespace {

std::string get(const std::map<std::string, std::string>& m, const std::string& k, const std::string& def = "") {
  auto it = m.find(k);
  return it == m.end() ? def : it->second;
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

json summary_json(const contrastive::Summary& s) {
  json j;
  j["n"] = s.n;
  for (auto [k, v] : {std::pair<const char*, double>{"mean", s.mean}, {"std", s.std}, {"min", s.min}, {"p05", s.p05},
                      {"p50", s.p50}, {"p95", s.p95}, {"max", s.max}})
    j[k] = round_to_decimals(v, 6);
  return j;
}
}  // namespace

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

InspectReport inspect_checkpoint(InspectOptions o, const TrainingHooks& hooks, const HistogramPlotter& draw) {
  const std::string path = o.checkpoint;
  const Checkpoint ckpt = load_moco_checkpoint(path);
  const std::string version = meta_str(ckpt.meta, "moco_version");
  const bool queue = version != "v3";

  // Data: the run's data set and classes (config.json), the model's input size (checkpoint).
  const std::map<std::string, std::string> cfg = run_config_beside(path);
  auto adopt = [&](std::string& value, const std::optional<std::string>& given, const std::string& v) {
    value = given.value_or(v);
  };
  if (cfg.count("dataset")) {
    adopt(o.data.dataset, o.dataset, get(cfg, "dataset"));
    adopt(o.data.data, o.data_dir, get(cfg, "data"));
    adopt(o.data.classes, o.classes, get(cfg, "classes"));
  } else {  // a checkpoint away from its run folder: its metadata names the data set, not the classes
    const std::string spec = get(ckpt.meta, "dataset", "fashion-mnist");
    const size_t colon = spec.find(':');
    adopt(o.data.dataset, o.dataset, spec.substr(0, colon));
    adopt(o.data.data, o.data_dir, colon == std::string::npos ? "" : spec.substr(colon + 1));
    o.data.classes = o.classes.value_or("");
  }
  Pretrained pre = load_pretrained(path);
  {
    const ModelSpec s = ModelSpec::from_meta(ckpt.meta);
    o.data.image_size = o.image_size.value_or(s.img_size);
    o.data.channels = o.channels.value_or(s.in_chans);
  }
  const Device dev = o.device;
  const uint64_t seed = o.seed;
  const int64_t n_queries = o.queries, n_neigh = o.neighbours;
  const int64_t knn_k = o.knn_k;
  const double knn_t = o.knn_t;
  o.data.train_fraction = 1.0;
  o.data.seed = seed;
  DataSetup d = open_data(o.data);  // the whole train split of the run's classes is the bank, as in moco knn
  const int64_t C = d.train->num_classes();

  // The model for the logits, and what the batch must fit, checked before anything is computed or written.
  std::shared_ptr<contrastive::MoCo> model = rebuild_moco(ckpt, cfg, seed);
  model->to(dev);
  const int64_t B = o.batch == 0 ? std::min<int64_t>(cfg.count("batch-size") ? std::stoll(get(cfg, "batch-size")) : 256,
                                                     d.train->size())
                                 : o.batch;
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
      o.out.empty() ? (fs::path(path).parent_path() / "inspect").string() : o.out;
  fs::create_directories(out_dir);
  auto out_file = [&](const std::string& name) { return (fs::path(out_dir) / name).string(); };

  // ---- features: the query encoder's backbone, pooled, in eval mode (moco knn's protocol)
  ModelSpec spec = ModelSpec::from_meta(ckpt.meta);
  spec.num_classes = 0;
  std::shared_ptr<nn::Backbone> backbone = make_backbone(spec);
  nn::load_into(backbone->state_dict(), pre.backbone, true, "the checkpoint " + path);
  backbone->to(dev);
  backbone->eval();
  data::DatasetPtr bank_ds = cap_images(d.train, o.knn_bank, seed);
  data::DatasetPtr test_ds = cap_images(d.val, o.knn_test, seed + 1);
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
    hooks.on_begin("features", batches(bank_ds->size()) + batches(test_ds->size()), eval_batch);
    contrastive::FeatureFn f = [&](const Tensor& x) {
      Tensor y = backbone->features(to_device(x, dev));
      hooks.on_step({});
      return y;
    };
    bank = contrastive::extract_feature_bank(f, mem, C);
    test = contrastive::extract_feature_bank(f, tst, C);
    hooks.on_end();
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
    pair_sims = contrastive::pairwise_cosines(v2->queue().keys(), o.queue_pairs, seed);
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

  // ---- histograms.png, drawn by the caller
  InspectHistograms h;
  h.queue = queue;
  h.batch = B;
  h.queue_k = K;
  h.pos = lc.pos;
  h.neg = lc.neg;
  h.ages = ages;
  h.age_max = age.max;
  h.pair_sims = pair_sims;
  const std::string hist_png = out_file("histograms.png");
  const std::string plot_note = draw ? draw(h, hist_png) : "histograms.png not drawn";

  // ---- inspect.md (also printed) and inspect.json
  const std::vector<std::string>& names = d.classes;
  auto cls = [&](int64_t l) { return l >= 0 && l < int64_t(names.size()) ? names[size_t(l)] : std::to_string(l); };
  std::string knn_cmd = fmt::format("moco knn --pretrained {} --dataset {}", path, o.data.dataset);
  if (!o.data.data.empty()) knn_cmd += " --data " + o.data.data;
  if (!o.data.classes.empty()) knn_cmd += " --classes " + o.data.classes;
  if (o.knn_bank > 0) knn_cmd += fmt::format(" --knn-bank {}", o.knn_bank);
  if (o.knn_test > 0) knn_cmd += fmt::format(" --knn-test {}", o.knn_test);
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

  // Numbers keep the precision the report has always given them.
  json js;
  js["checkpoint"] = path;
  js["moco_version"] = version;
  js["epoch"] = ckpt.epoch();
  js["dataset"] = d.spec;
  js["knn_top1"] = round_to_decimals(knn_top1, 4);
  js["knn_k"] = knn_k;
  js["knn_t"] = knn_t;
  js["knn_test"] = n_test;
  js["knn_bank"] = bank.features.size(0);
  js["batch"] = B;
  js["logit_pos"] = summary_json(pos);
  js["logit_neg"] = summary_json(neg);
  js["neg_above_pos"] = lc.neg_above_pos;
  js["rows_beaten"] = lc.rows_beaten;
  if (queue) {
    js["queue_k"] = K;
    js["queue_sim_mean"] = round_to_decimals(*sim_mean, 6);
    js["queue_pairs"] = summary_json(pairs);
    if (age_mean) {
      js["queue_age_mean"] = round_to_decimals(*age_mean, 4);
      js["queue_age_max"] = int64_t(std::llround(*age_max));
    }
  }
  json queries = json::array();
  for (size_t r = 0; r < qidx.size(); ++r) {
    json q;
    q["test_index"] = qidx[r];
    q["label"] = test_labels[size_t(qidx[r])];
    json neighbours = json::array();
    for (int64_t j = 0; j < nb.k; ++j) {
      const int64_t bi = nb.at(int64_t(r), j);
      json n;
      n["bank_index"] = bi;
      n["label"] = bank_labels[size_t(bi)];
      n["cosine"] = round_to_decimals(nb.sim_at(int64_t(r), j), 6);
      n["same"] = bank_labels[size_t(bi)] == test_labels[size_t(qidx[r])];
      neighbours.push_back(std::move(n));
    }
    q["neighbours"] = std::move(neighbours);
    queries.push_back(std::move(q));
  }
  js["queries"] = std::move(queries);
  js["agreement"] = agree;
  write_file_atomic(out_file("inspect.json"), js.dump() + "\n");

  InspectReport report;
  report.sheet_png = sheet_png;
  report.histograms_png = hist_png;
  report.markdown = md;
  report.plot_note = plot_note;
  return report;
}

}  // namespace moco::train
