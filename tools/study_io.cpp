#include "tools/study_io.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "nn/json.h"
#include "tools/study_stats.h"

namespace moco::cli {

void resume_study_flags(Args& a, const std::string& kind) {
  const std::string dir = a.str("resume");
  MOCO_USAGE_CHECK(std::filesystem::is_regular_file(dir + "/config.json"),
                   "--resume {}: not a{} {} folder (no config.json)", dir,
                   kind.find_first_of("aeiou") == 0 ? "n" : "", kind);
  const RunConfig c = read_run_config(dir + "/config.json");
  for (const auto* m : {&c.flags, &c.machine})
    for (auto& [k, v] : *m)
      if (k != "resume" && k != "overwrite" && a.has(k) && !a.given(k)) a.set_from_run(k, v);
  if (!a.given("out")) a.set("out", dir);
}

void write_study_config(const RunDir& dir, const Args& a, const std::string& kind, const std::string& command) {
  RunConfig c;
  c.kind = kind;
  c.command = command;
  for (auto& [k, v] : a.values()) {
    if (k == "overwrite") continue;
    if (k == "threads" || k == "device") {
      c.machine[k] = v;
      continue;
    }
    c.flags[k] = v;
    if (a.is_switch(k)) c.switches.insert(k);
  }
  write_run_config(dir.file("config.json"), c);
}

std::unique_ptr<RunLock> claim_study_folder(const Args& a, const std::string& dir) {
  auto lock = std::make_unique<RunLock>(dir);
  const std::vector<std::string> e = folder_entries(dir);
  MOCO_USAGE_CHECK(e.empty() || !a.str("resume").empty() || a.on("overwrite"),
                   "--out {} already holds files ({}): continue that study with --resume {}, redo it with "
                   "--overwrite, or choose another --out",
                   dir, fmt::join(e, ", "), dir);
  return lock;
}

std::vector<std::string> fresh_run_args(std::vector<std::string> argv, const std::string& dir) {
  if (!folder_entries(dir).empty()) argv.push_back("--overwrite");
  return argv;
}

double read_number(const std::string& path, const std::string& key, double missing) {
  std::ifstream f(path);
  if (!f) return missing;
  std::string text((std::istreambuf_iterator<char>(f)), {});
  nn::Json j = nn::parse_json(text, path);
  const nn::Json* s = j.find(key);
  if (!s) return missing;
  return s->kind == nn::Json::Kind::integer ? double(s->i) : s->kind == nn::Json::Kind::number ? s->d : missing;
}

std::string json_num(double v) { return std::isfinite(v) ? fmt::format("{:.4f}", v) : "null"; }

std::string pm(const std::vector<double>& v, const char* unit) {
  if (v.empty() || !std::isfinite(mean_of(v))) return "—";
  return v.size() > 1 ? fmt::format("{:.2f} ± {:.2f}{}", mean_of(v), std_of(v), unit)
                      : fmt::format("{:.2f}{}", mean_of(v), unit);
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
