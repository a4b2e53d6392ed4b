#include "data/loader_bench.h"

#include <sys/resource.h>

#include <chrono>

namespace moco::data {

namespace {

double cpu_seconds() {  // user + system time of every thread of this process
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

}  // namespace

LoaderThroughput time_loader(DataLoader& dl, int64_t warmup, double seconds) {
  using Clock = std::chrono::steady_clock;
  int64_t epoch = 0;
  dl.start_epoch(epoch);
  Batch b;
  auto take = [&] {
    while (!dl.next(b)) dl.start_epoch(++epoch);
    return b.indices.size();
  };
  for (int64_t i = 0; i < warmup; ++i) take();
  LoaderThroughput r;
  const double c0 = cpu_seconds();
  const auto t0 = Clock::now();
  while (r.seconds < seconds) {
    r.samples += int64_t(take());
    ++r.batches;
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  r.cpu_seconds = cpu_seconds() - c0;
  return r;
}

}  // namespace moco::data
