// What the studies (`moco compare`, `moco ablate`) share to read their runs
// back and write their reports: a number from a small JSON file, numbers as
// JSON and as "mean ± std" text, and a mean curve with a min-max band over
// seeds for plot_png.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tools/args.h"
#include "tools/plot.h"
#include "train/run_config.h"
#include "train/run_dir.h"

namespace moco::cli {

using namespace moco::train;

// --resume DIR of a study: every flag not given again comes back from
// DIR/config.json, and --out defaults to DIR. `kind` names the study in the
// message when DIR is not one ("compare", "ablation").
void resume_study_flags(Args& a, const std::string& kind);

// DIR/config.json of a study: its flags (typed), `command` (the command line
// that started it) and the machine's threads and device.
void write_study_config(const RunDir& dir, const Args& a, const std::string& kind, const std::string& command);

// The study's folder for this process: locked (one study per folder), and
// empty unless the study is resumed or --overwrite was given. The lock holds
// while the returned object lives.
std::unique_ptr<RunLock> claim_study_folder(const Args& a, const std::string& dir);
// The flags to start a sub-run afresh in `dir`: with --overwrite when the
// folder holds a run's files (a run the study's --overwrite replaces, or one
// that a resumed study found without a checkpoint), since the study owns it.
std::vector<std::string> fresh_run_args(std::vector<std::string> argv, const std::string& dir);

// A number from a one-object JSON file (e.g. knn_init.json, wall_time.json),
// or `missing` when the file or the key is not there.
double read_number(const std::string& path, const std::string& key, double missing);

// A JSON number with 4 decimals, or null for NaN and infinities.
std::string json_num(double v);
// "mean ± std<unit>" over seeds (the mean alone for one value; "—" for none).
std::string pm(const std::vector<double>& v, const char* unit = "%");

// Mean curve with a min-max band over seeds (`curves`: one per seed; the
// shortest sets the length). x: the points' x values (missing ones: 1, 2, ...).
// One curve: no band.
Series band(const std::string& name, const std::string& color, const std::vector<std::vector<double>>& curves,
            const std::vector<double>& x);

}  // namespace moco::cli
