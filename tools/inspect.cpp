#include "tools/inspect.h"

#include <algorithm>
#include <cstdio>

#include "contrastive/inspect.h"
#include "tensor/backend.h"
#include "tools/cli_common.h"
#include "tools/plot.h"
#include "tools/progress.h"

namespace moco::cli {

namespace {

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

// histograms.png of `moco inspect`; "" when drawn, else why not.
std::string draw_histograms(const InspectHistograms& h, const std::string& png) {
  std::vector<Panel> panels;
  {
    Panel p;
    p.title = fmt::format("logits of a batch of {} as cosine similarities", h.batch);
    p.xlabel = "cosine similarity";
    p.ylabel = "density";
    p.key = "top left";
    // A batch has few positives: wider bins for them (densities stay comparable), so their curve is not all spikes.
    const int64_t pos_bins = std::clamp<int64_t>(int64_t(h.pos.size()) / 4, 20, 100);
    p.series.push_back(histogram_series(h.queue ? "positive q.k+" : "positive q1.k2 (diagonal)",
                                        contrastive::histogram(h.pos, -1, 1, pos_bins), true, "#009E73"));
    p.series.push_back(histogram_series(h.queue ? "negative q.queue" : "negative q1.k2 (off-diagonal)",
                                        contrastive::histogram(h.neg, -1, 1, 100), true, "#D55E00"));
    panels.push_back(p);
  }
  if (!h.ages.empty()) {
    Panel p;
    p.title = fmt::format("ages of the {} queued keys", h.queue_k);
    p.xlabel = "age (training steps since enqueued)";
    p.ylabel = "keys";
    p.key = "off";
    p.yrange = "[0:*]";
    const int64_t top = int64_t(h.age_max);
    const int64_t bins = top + 1 <= 200 ? top + 1 : 100;
    p.series.push_back(histogram_series("keys", contrastive::histogram(h.ages, -0.5, double(top) + 0.5, bins), false,
                                        "#0072B2"));
    panels.push_back(p);
  }
  if (!h.pair_sims.empty()) {
    Panel p;
    p.title = fmt::format("cosine similarity between queued keys ({} pairs)", h.pair_sims.size());
    p.xlabel = "cosine similarity";
    p.ylabel = "density";
    p.key = "top left";
    p.series.push_back(histogram_series("pairs of keys", contrastive::histogram(h.pair_sims, -1, 1, 100), true,
                                        "#0072B2"));
    panels.push_back(p);
  }
  try {
    plot_png(png, panels, 450 * int(panels.size()), 380);
  } catch (const std::exception& e) {  // no gnuplot: the report and the sheet still stand
    return fmt::format("histograms.png not drawn: {}", e.what());
  }
  return "";
}

}  // namespace

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
  InspectOptions o;
  o.checkpoint = checkpoint_file(positional[0]);
  o.out = a.str("out");
  // Flags not given take the run's values (config.json) or the checkpoint's.
  if (a.given("dataset")) o.dataset = a.str("dataset");
  if (a.given("data")) o.data_dir = a.str("data");
  if (a.given("classes")) o.classes = a.str("classes");
  if (a.given("image-size")) o.image_size = int(a.integer("image-size", 0, 4096));
  if (a.given("channels")) o.channels = int(a.integer("channels", 0, 3));
  o.data = data_options(a, 1.0, 0);
  const int threads = int(a.integer("threads", 0, 4096));
  if (threads > 0) set_num_threads(threads);
  o.device = open_device(a.str("device"));
  o.seed = uint64_t(a.integer("seed", 0));
  o.queries = a.integer("queries", 1, 1000);
  o.neighbours = a.integer("neighbours", 1, 1000);
  o.knn_k = a.integer("knn-k", 1);
  o.knn_t = a.real("knn-t", 1e-9);
  o.knn_bank = a.integer("knn-bank", 0);
  o.knn_test = a.integer("knn-test", 0);
  o.batch = a.str("batch-size") == "auto" ? 0 : a.integer("batch-size", 2, 1 << 24);
  o.queue_pairs = a.integer("queue-pairs", 1);
  const InspectReport r = inspect_checkpoint(o, progress_hooks(), draw_histograms);
  std::printf("%s\nmoco inspect: wrote %s, %s, inspect.md, inspect.json\n", r.markdown.c_str(), r.sheet_png.c_str(),
              r.plot_note.empty() ? r.histograms_png.c_str() : "(no histograms.png)");
  return 0;
}

}  // namespace moco::cli
