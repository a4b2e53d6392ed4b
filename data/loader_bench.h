// The data pipeline's throughput alone (read, decode, augment, collate), the
// loader's workers doing all the work while the caller only takes batches
// (`moco bench-data`; bench/data_bench.sh runs it beside torchvision).
#pragma once
#include <cstdint>

#include "data/loader.h"

namespace moco::data {

struct LoaderThroughput {
  int64_t samples = 0, batches = 0;  // taken while timed; a sample is one image and all its views
  double seconds = 0, cpu_seconds = 0;  // wall time, and the CPU time of every thread of the process
};

// Takes `warmup` batches, then batches for at least `seconds`, starting a new epoch whenever one ends.
LoaderThroughput time_loader(DataLoader& dl, int64_t warmup, double seconds);

}  // namespace moco::data
