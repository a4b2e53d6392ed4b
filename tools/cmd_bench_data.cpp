// `moco bench-data`: images/s of the data pipeline alone (read, decode,
// augment, collate), the loader's workers doing all the work while this
// thread only takes batches. bench/data_bench.sh runs it beside torchvision.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>

#include "data/dataset.h"
#include "data/loader.h"
#include "data/transforms.h"
#include "tools/args.h"
#include "tools/command.h"

namespace moco::cli {
namespace {

using namespace moco::data;
using Clock = std::chrono::steady_clock;

double cpu_seconds() {  // user + system time of every thread of this process
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

int run(const std::vector<std::string>& argv) {
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
  int64_t epoch = 0;
  dl.start_epoch(epoch);
  Batch b;
  auto take = [&] {
    while (!dl.next(b)) dl.start_epoch(++epoch);
    return b.indices.size();
  };
  for (int64_t i = 0; i < warmup; ++i) take();
  int64_t samples = 0, batches = 0;
  const double c0 = cpu_seconds();
  const auto t0 = Clock::now();
  double dt = 0;
  while (dt < seconds) {
    samples += int64_t(take());
    ++batches;
    dt = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  std::printf("bench-data impl=moco dataset=%s preset=%s size=%d workers=%d batch=%lld batches=%lld seconds=%.2f "
              "images_per_s=%.1f cpu_ms_per_image=%.3f\n",
              args.str("dataset").c_str(), args.str("preset").c_str(), o.size, lo.num_workers,
              (long long)lo.batch_size, (long long)batches, dt, samples / dt, 1e3 * (cpu_seconds() - c0) / samples);
  return 0;
}

Register reg({"bench-data", "measure the data loader's images/s for a preset and a number of workers", run});

}  // namespace
}  // namespace moco::cli
