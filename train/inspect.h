// What a MoCo checkpoint of `moco pretrain` learned (`moco inspect`), written
// to a folder:
//   retrieval.png   test images, each beside its nearest train images in the
//                   query encoder's feature space, every neighbour marked
//                   same class or not (train/retrieval_sheet.h)
//   inspect.md      the numbers for people, with the kNN top-1 of `moco
//                   knn`'s protocol and each row of the sheet
//   inspect.json    the numbers for programs
// and the distributions a caller may draw as histograms (positive and
// negative logits of one training batch as cosine similarities; v1/v2 also
// the queue's ages and the cosine similarities between its keys).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tensor/tensor.h"
#include "train/checkpoint.h"
#include "train/data_setup.h"
#include "train/hooks.h"

namespace moco::train {

// The checkpoint, or a UsageError saying why `path` is not one of moco pretrain.
Checkpoint load_moco_checkpoint(const std::string& path);

// The flag values of the run's config.json beside the checkpoint ({} when there is none).
std::map<std::string, std::string> run_config_beside(const std::string& checkpoint);

struct InspectOptions {
  std::string checkpoint;  // the checkpoint file
  std::string out;         // the folder written ("": inspect/ beside the checkpoint)
  // The data set, its folder and classes (unset: the run's, from its
  // config.json, else the data set named in the checkpoint's metadata), the
  // model's input (unset: the checkpoint's); `data.seed` is replaced by `seed`.
  std::optional<std::string> dataset, data_dir, classes;
  std::optional<int> image_size, channels;
  DataOptions data;
  int64_t batch = 0;  // images in the batch whose logits are measured (0: the run's batch size)
  int64_t queries = 8, neighbours = 8;
  int64_t knn_k = 200, knn_bank = 0, knn_test = 0;
  double knn_t = 0.1;
  int64_t queue_pairs = 200000;  // pairs of queued keys compared (all when fewer)
  uint64_t seed = 0;             // of the queries, the batch, its augmentation and the subsets
  Device device;
};

// The distributions of a batch's logits and of the queue (v1/v2).
struct InspectHistograms {
  bool queue = false;  // v1/v2: the negatives are the queue's keys
  int64_t batch = 0, queue_k = 0;
  std::vector<double> pos, neg;    // logits as cosine similarities
  std::vector<double> ages;        // of the queued keys (empty when the checkpoint has none)
  double age_max = 0;
  std::vector<double> pair_sims;   // between pairs of queued keys
};

struct InspectReport {
  std::string sheet_png, histograms_png, markdown;
  std::string plot_note;  // why histograms.png was not drawn; "" when it was
};

// Draws the histograms as `png`; returns "" when it did, else why not (the report notes it).
using HistogramPlotter = std::function<std::string(const InspectHistograms&, const std::string& png)>;

// Measures, writes retrieval.png, has `draw` draw histograms.png, then writes
// inspect.md and inspect.json. `hooks` show the feature pass.
InspectReport inspect_checkpoint(InspectOptions o, const TrainingHooks& hooks, const HistogramPlotter& draw);

}  // namespace moco::train
