// What the study commands (`moco compare`, `moco ablate`) share on the
// command line: --resume of a study, its config.json and folder, the launcher
// that runs a study's run in-process with its progress line, the report's
// text, and a mean curve with a min-max band over seeds for plot_png.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tools/args.h"
#include "tools/plot.h"
#include "train/run_dir.h"
#include "train/study/runs.h"

namespace moco::cli {

using namespace moco::train;

// --resume DIR of a study: every flag not given again comes back from
// DIR/config.json, and --out defaults to DIR. `kind` names the study in the
// message when DIR is not one ("compare", "ablation").
void resume_study_flags(Args& a, const std::string& kind);

// The study's folder for this process: locked (one study per folder), and
// empty unless the study is resumed or --overwrite was given. The lock holds
// while the returned object lives. Then DIR/config.json: the flags (typed),
// the command line that started the study (`command` is this one; a resumed
// study keeps the first) and the machine's threads and device. Returns the
// command line(s) for the report: the first, and this one when resumed.
std::string start_study(const Args& a, const std::string& kind, const std::vector<std::string>& argv,
                        std::unique_ptr<RunLock>& lock);

// Sets --threads and checks --device (a missing CUDA fails here, not in the first run).
void use_machine(const Args& a);

// A launcher that prints `progress(run, args)` and runs the `moco` command
// in-process; a failed run (not a stopped one) is an error naming `kind`.
Launcher study_launcher(const std::string& kind,
                        std::function<std::string(const StudyRun& run, const std::string& line)> progress);
// What a stopped study says (how to continue it); returns `rc`.
int study_stopped(const std::string& kind, const std::string& what, const std::string& out, int rc);

// The command line's spelling of durations and command lines, today's date and the threads.
ReportText report_text();

// Mean curve with a min-max band over seeds (`curves`: one per seed; the
// shortest sets the length). x: the points' x values (missing ones: 1, 2, ...).
// One curve: no band.
Series band(const std::string& name, const std::string& color, const std::vector<std::vector<double>>& curves,
            const std::vector<double>& x);

}  // namespace moco::cli
