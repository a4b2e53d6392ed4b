// `moco bench-data`: images/s of the data pipeline alone (data/loader_bench.h)
// for a data set, a preset and a number of workers.
#include <cstdio>

#include "data/dataset.h"
#include "data/loader.h"
#include "data/loader_bench.h"
#include "data/transforms.h"
#include "tools/args.h"
#include "tools/command.h"

namespace moco::cli {

int bench_data_command(const std::vector<std::string>& argv) {
  using namespace moco::data;
  Args args("bench-data", "Measure the data loader's throughput (samples/s; a sample is one image and all its views).");
  args.opt("dataset", "fashion-mnist", "data set spec (fashion-mnist, cifar10:DIR, folder:DIR, ...)")
      .opt("split", "train", "split")
      .opt("preset", "v2", "augmentation preset: v1, v2, v3, lincls, eval")
      .opt("size", "32", "output side in pixels")
      .opt("channels", "3", "channels of the views")
      .opt("workers", "2", "loader worker threads (0: in this thread)")
      .opt("batch", "256", "batch size")
      .opt("prefetch", "2", "batches ahead per worker")
      .opt("seconds", "5", "measuring time (after the warm-up)")
      .opt("warmup", "2", "batches taken before timing starts")
      .opt("seed", "0", "seed");
  if (!args.parse(argv)) return 0;
  PresetOptions o;
  o.size = int(args.integer("size", 8, 4096));
  o.channels = int(args.integer("channels", 1, 3));
  const NormStats ns = norm_stats_for(args.str("dataset"), o.channels);
  o.mean = ns.mean;
  o.std = ns.std;
  LoaderOptions lo;
  lo.batch_size = args.integer("batch", 1);
  lo.num_workers = int(args.integer("workers", 0, 256));
  lo.prefetch = int(args.integer("prefetch", 1, 64));
  lo.seed = uint64_t(args.integer("seed", 0));
  const double seconds = args.real("seconds", 0.01, 3600);
  const int64_t warmup = args.integer("warmup", 0);

  DatasetPtr ds = open_dataset(args.str("dataset"), args.str("split"));
  DataLoader dl(ds, make_preset(args.str("preset"), o), lo);
  const LoaderThroughput t = time_loader(dl, warmup, seconds);
  std::printf("bench-data impl=moco dataset=%s preset=%s size=%d workers=%d batch=%lld batches=%lld seconds=%.2f "
              "images_per_s=%.1f cpu_ms_per_image=%.3f\n",
              args.str("dataset").c_str(), args.str("preset").c_str(), o.size, lo.num_workers,
              (long long)lo.batch_size, (long long)t.batches, t.seconds, t.samples / t.seconds,
              1e3 * t.cpu_seconds / t.samples);
  return 0;
}

}  // namespace moco::cli
