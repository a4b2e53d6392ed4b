// What the study commands (`moco compare`, `moco ablate`) share on the
// command line: the launcher that runs a study's run in-process with its
// progress line, the report's text, and a mean curve with a min-max band over
// seeds for plot_png. The study's folder and --resume: train/study/study_folder.h.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tools/args.h"
#include "tools/plot.h"
#include "train/run_dir.h"
#include "train/study/study_folder.h"
#include "train/study/runs.h"

namespace moco::cli {

using namespace moco::train;

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
