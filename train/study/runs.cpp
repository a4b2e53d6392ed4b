#include "train/study/runs.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tensor/error.h"
#include "train/run_dir.h"
#include "train/study/report_json.h"
#include "train/study/stats.h"

namespace moco::train {

std::vector<std::string> fresh_run_args(std::vector<std::string> argv, const std::string& dir) {
  if (!folder_entries(dir).empty()) argv.push_back("--overwrite");
  return argv;
}

int launch_run(const StudyRun& run, bool resume, const Launcher& launch, double& seconds) {
  std::vector<std::string> args = fresh_run_args(run.argv, run.dir);
  double before = 0;
  if (resume && std::filesystem::is_regular_file(run.dir + "/checkpoint.safetensors")) {
    args = {"--resume", run.dir};  // the run's own config.json has every flag
    before = read_number(run.dir + "/wall_time.json", "seconds", 0);
  }
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = launch(run, args);
  if (rc != 0) return rc;
  const double secs = before + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  write_file_atomic(run.dir + "/wall_time.json", fmt::format("{{\"seconds\": {:.3f}}}\n", secs));
  seconds += secs;
  return 0;
}

double read_number(const std::string& path, const std::string& key, double missing) {
  std::ifstream f(path);
  if (!f) return missing;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON ({})", path, e.what()));
  }
  if (!j.is_object()) return missing;
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : missing;
}

std::string pm(const std::vector<double>& v, const char* unit) {
  if (v.empty() || !std::isfinite(mean_of(v))) return "—";
  return v.size() > 1 ? fmt::format("{:.2f} ± {:.2f}{}", mean_of(v), std_of(v), unit)
                      : fmt::format("{:.2f}{}", mean_of(v), unit);
}

// The number the 4-decimal text stands for, so the file keeps the digits it always had.
StudyJson json_num(double v) {
  if (!std::isfinite(v)) return nullptr;
  return std::strtod(fmt::format("{:.4f}", v).c_str(), nullptr);
}

StudyJson json_list(const std::vector<double>& v) {
  StudyJson a = StudyJson::array();
  for (double x : v) a.push_back(json_num(x));
  return a;
}

// A whole number stays an integer, as "{:g}" wrote it (4096, not 4096.0).
StudyJson json_g(double v) {
  const double g = std::strtod(fmt::format("{:g}", v).c_str(), nullptr);
  if (g == std::floor(g) && std::abs(g) < 1e15) return int64_t(g);
  return g;
}

void write_study_json(const std::string& path, const StudyJson& j) { write_file_atomic(path, j.dump(2) + "\n"); }

}  // namespace moco::train
