// What a run folder says, for people: its configuration as strings, its kNN
// top-1 at initialisation, and RUN/report.md, which `moco pretrain` writes at
// the end (tools/run_plot.cpp draws the curves beside it).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace moco::train {

// config.json's flags and machine values as strings, with "command" (and
// "resumed_with"); empty when the folder has no config.json.
std::map<std::string, std::string> run_config_values(const std::string& dir);
// knn_init.json's knn_top1, if the run measured it; an error naming the file when it is not JSON.
std::optional<double> knn_at_init(const std::string& dir);

// RUN/report.md: the configuration (config.json), final and best metrics
// (metrics.jsonl, knn_init.json), the plot `png` (a file name inside the run
// folder; "" for none) and the commands that continue the run (--resume) and
// evaluate it (knn, linear, finetune). `epochs_done` of `epochs`.
void write_pretrain_report(const std::string& run, int64_t epochs_done, int64_t epochs, const std::string& png);

}  // namespace moco::train
