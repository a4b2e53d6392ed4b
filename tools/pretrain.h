// `moco pretrain`: MoCo v1 / v2 / v3 self-supervised pretraining with the
// official scripts' flags (main_moco.py of facebookresearch/moco and of
// moco-v3, and the CIFAR-10 demo's --bn-splits / --symmetric / kNN monitor),
// and `moco knn`: the kNN top-1 of a checkpoint's features.
#pragma once
#include <string>
#include <vector>

#include "contrastive/knn.h"
#include "tools/cli_common.h"

namespace moco::cli {

int pretrain_command(const std::vector<std::string>& argv);
int knn_command(const std::vector<std::string>& argv);

// kNN top-1 (%) of `features` with `bank` as the memory (labelled images)
// and `test` as queries, both through the evaluation transform of `d`;
// `max_bank` > 0 keeps a stratified, seeded subset of about that many bank
// images, `max_test` likewise for the queries.
double knn_top1(const contrastive::FeatureFn& features, data::DatasetPtr bank, data::DatasetPtr test,
                const DataSetup& d, int64_t k, double T, int64_t max_bank, int64_t max_test, uint64_t seed,
                int64_t batch_size = 256);

}  // namespace moco::cli
