// `moco knn`'s measurement: the kNN top-1 (the MoCo CIFAR-10 demo's monitor)
// of any checkpoint's backbone features, so that runs of every command, and
// plain torchvision/timm state dicts, are compared by one protocol.
#pragma once
#include <cstdint>
#include <string>

#include "train/data_setup.h"
#include "train/flags.h"
#include "train/hooks.h"
#include "train/model_spec.h"

namespace moco::train {

struct CheckpointKnn {
  std::string checkpoint;  // the file --pretrained named
  ModelSpec spec;          // the backbone measured
  DataSetup data;          // bank: the train split (after --label-fraction); queries: the test split
  double top1 = 0;         // %
  int64_t k = 0;
  double t = 0;
};

// Loads --pretrained (a run folder or checkpoint; the model flags not given
// are its spec's), applies --threads and --device, and measures the kNN top-1
// with --knn-k, --knn-t, --knn-bank, --knn-test, --batch-size and --seed.
CheckpointKnn checkpoint_knn(Flags& a, const TrainingHooks& hooks = {});

}  // namespace moco::train
