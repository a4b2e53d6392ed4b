#include "tools/study_io.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "tensor/backend.h"
#include "tools/cli_common.h"
#include "tools/pretrain.h"
#include "tools/supervised.h"
#include "train/stop_signal.h"

namespace moco::cli {

Launcher study_launcher(const std::string& kind,
                        std::function<std::string(const StudyRun& run, const std::string& line)> progress) {
  return [kind, progress](const StudyRun& run, const std::vector<std::string>& args) {
    const std::string line = command_line(run.command, args);
    std::printf("\n==== %s: %s: %s\n", kind.c_str(), progress(run, line).c_str(), line.c_str());
    std::fflush(stdout);
    const int rc = run.command == "pretrain"   ? pretrain_command(args)
                   : run.command == "finetune" ? supervised_command(SupervisedMode::finetune, args)
                                               : supervised_command(SupervisedMode::train, args);
    if (rc == stop_exit_code(SIGINT) || rc == stop_exit_code(SIGTERM)) return rc;  // the run saved where it was
    MOCO_CHECK(rc == 0, "{}: {} failed", kind, line);
    return 0;
  };
}

int study_stopped(const std::string& kind, const std::string& what, const std::string& out, int rc) {
  std::printf("moco %s: stopped — continue the %s with: moco %s --resume %s\n", kind.c_str(), what.c_str(),
              kind.c_str(), out.c_str());
  return rc;
}

ReportText report_text() {
  ReportText t;
  t.duration = fmt_duration;
  t.command_line = command_line;
  std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M", std::localtime(&now));
  t.date = date;
  t.threads = get_num_threads();
  return t;
}

Series band(const std::string& name, const std::string& color, const std::vector<std::vector<double>>& curves,
            const std::vector<double>& x) {
  Series s;
  s.name = name;
  s.color = color;
  size_t n = SIZE_MAX;
  for (auto& c : curves) n = std::min(n, c.size());
  if (curves.empty() || n == 0) return s;
  for (size_t i = 0; i < n; ++i) {
    double sum = 0, lo = 1e300, hi = -1e300;
    for (auto& c : curves) sum += c[i], lo = std::min(lo, c[i]), hi = std::max(hi, c[i]);
    s.x.push_back(i < x.size() ? x[i] : double(i + 1));
    s.y.push_back(sum / double(curves.size()));
    s.lo.push_back(lo);
    s.hi.push_back(hi);
  }
  if (curves.size() < 2) s.lo.clear(), s.hi.clear();
  return s;
}

}  // namespace moco::cli
