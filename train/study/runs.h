// What the studies (`moco compare`, `moco ablate`) share to run their runs and
// read them back: a run as a typed description (the command, the flags its
// report records, its folder), one launch of it (afresh, or resumed from its
// checkpoint) timed into wall_time.json, a number from a small JSON file, and
// the "mean ± std" text of the reports.
//
// The library never calls the command line: the caller passes a Launcher
// that runs one command in-process, so a study stays reproducible from the
// command lines it records.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace moco::train {

struct StudyRun {
  std::string command;            // "pretrain", "train" or "finetune": the `moco` command that trains it
  std::vector<std::string> argv;  // its flags, as the report records them
  std::string dir;                // its run folder
  int64_t seed = 0;
  std::string label;              // the model ("moco_resnet") or the ablated value ("0.99")
};

// Runs `command` with `args` (the run's recorded flags, or --resume DIR) and
// returns its exit status; a failure other than a stop (SIGINT / SIGTERM)
// is the launcher's to report.
using Launcher = std::function<int(const StudyRun& run, const std::vector<std::string>& args)>;

// The flags to start a run afresh in `dir`: with --overwrite when the folder
// holds a run's files (a run the study's --overwrite replaces, or one that a
// resumed study found without a checkpoint), since the study owns it.
std::vector<std::string> fresh_run_args(std::vector<std::string> argv, const std::string& dir);

// Launches `run`: resumed (--resume DIR) when `resume` and its checkpoint is
// there, else afresh. On success adds the run's wall time (with the time a
// resumed run had already spent) to `seconds` and writes DIR/wall_time.json.
// Returns the launcher's exit status: non-zero only for a stopped run.
int launch_run(const StudyRun& run, bool resume, const Launcher& launch, double& seconds);

// A number from a one-object JSON file (e.g. knn_init.json, wall_time.json),
// or `missing` when the file or the key is not there.
double read_number(const std::string& path, const std::string& key, double missing);

// "mean ± std<unit>" over seeds (the mean alone for one value; "—" for none).
std::string pm(const std::vector<double>& v, const char* unit = "%");

// The caller's spelling of what a report shows: durations ("1m05s") and a
// command line ("moco pretrain --epochs 5 ..."), as the command line prints them.
struct ReportText {
  std::function<std::string(double seconds)> duration;
  std::function<std::string(const std::string& command, const std::vector<std::string>& argv)> command_line;
  std::string date;  // when the report was written, e.g. "2024-05-01 12:00"
  int threads = 0;   // CPU threads the runs used
};

}  // namespace moco::train
