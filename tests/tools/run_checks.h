// Checks on run folders shared by the tools suites: a metrics column read
// back, and two runs' checkpoints compared tensor by tensor (bit for bit).
#pragma once
#include <string>
#include <vector>

#include "nn/safetensors.h"
#include "test_util.h"
#include "tools/cli_common.h"
#include "train/run_config.h"
#include "train/run_dir.h"

namespace moco::test_data {

// Every value of `name` in DIR/metrics.jsonl, in row order.
inline std::vector<double> column(const std::string& dir, const std::string& name) {
  std::vector<double> out;
  for (auto& row : cli::RunDir(dir).read_metrics())
    if (auto v = cli::find_value(row, name)) out.push_back(*v);
  return out;
}

// Every tensor of the two checkpoints (model, key encoder, queue, optimiser) bit-identical, the same epoch.
// The value of `flag` in DIR/config.json, as the command line spells it ("" when absent).
inline std::string config_flag(const std::string& dir, const std::string& flag) {
  const train::RunConfig c = train::read_run_config(dir + "/config.json");
  auto it = c.flags.find(flag);
  return it == c.flags.end() ? std::string() : it->second;
}

inline void check_same_checkpoint(const std::string& a, const std::string& b) {
  nn::SafeTensors x = nn::load_safetensors(cli::checkpoint_file(a)), y = nn::load_safetensors(cli::checkpoint_file(b));
  REQUIRE(x.tensors.size() == y.tensors.size());
  for (size_t i = 0; i < x.tensors.size(); ++i) {
    INFO("tensor " << x.tensors[i].first);
    REQUIRE(x.tensors[i].first == y.tensors[i].first);
    CHECK_CLOSE(x.tensors[i].second, y.tensors[i].second, 0.0, 0.0);
  }
  CHECK(x.metadata.at("epoch") == y.metadata.at("epoch"));
}

}  // namespace moco::test_data
