#include "tools/run_dir.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tensor/error.h"

namespace moco::cli {

namespace fs = std::filesystem;

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) o += fmt::format("\\u{:04x}", int(c));
        else o += c;
    }
  }
  return o;
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    MOCO_CHECK(f.good(), "cannot write {}: check that the folder exists and is writable", tmp);
    f << content;
    f.flush();
    MOCO_CHECK(f.good(), "writing {} failed (disk full?)", tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  MOCO_CHECK(!ec, "cannot move {} to {}: {}", tmp, path, ec.message());
}

RunDir::RunDir(const std::string& path) : path_(path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  MOCO_CHECK(!ec && fs::is_directory(path), "cannot create run folder {}: {}", path, ec.message());
}

void RunDir::write_config(const std::map<std::string, std::string>& config, const std::string& command) const {
  std::string s = "{\n  \"command\": \"" + json_escape(command) + "\"";
  for (auto& [k, v] : config) s += ",\n  \"" + json_escape(k) + "\": \"" + json_escape(v) + "\"";
  write_file_atomic(file("config.json"), s + "\n}\n");
}

void RunDir::append_metrics(const MetricsRow& row) const {
  std::string json = "{";
  for (size_t i = 0; i < row.size(); ++i)
    json += fmt::format("{}\"{}\": {}", i ? ", " : "", json_escape(row[i].first), row[i].second);
  std::ofstream(file("metrics.jsonl"), std::ios::app) << json << "}\n";
  const bool fresh = !fs::exists(file("metrics.csv")) || fs::file_size(file("metrics.csv")) == 0;
  std::ofstream csv(file("metrics.csv"), std::ios::app);
  if (fresh) {
    for (size_t i = 0; i < row.size(); ++i) csv << (i ? "," : "") << row[i].first;
    csv << "\n";
  }
  for (size_t i = 0; i < row.size(); ++i) csv << (i ? "," : "") << fmt::format("{}", row[i].second);
  csv << "\n";
}

// Parses the flat {"name": number, ...} lines this class writes.
std::vector<MetricsRow> RunDir::read_metrics() const {
  std::vector<MetricsRow> rows;
  std::ifstream f(file("metrics.jsonl"));
  std::string line;
  while (std::getline(f, line)) {
    MetricsRow row;
    size_t p = 0;
    while ((p = line.find('"', p)) != std::string::npos) {
      const size_t q = line.find('"', p + 1);
      const size_t colon = line.find(':', q);
      if (q == std::string::npos || colon == std::string::npos) break;
      const std::string key = line.substr(p + 1, q - p - 1);
      row.emplace_back(key, std::strtod(line.c_str() + colon + 1, nullptr));
      p = line.find_first_of(",}", colon);
      if (p == std::string::npos) break;
    }
    if (!row.empty()) rows.push_back(row);
  }
  return rows;
}

void RunDir::truncate_metrics(size_t keep) const {
  std::vector<MetricsRow> rows = read_metrics();
  if (rows.size() <= keep) return;
  rows.resize(keep);
  fs::remove(file("metrics.jsonl"));
  fs::remove(file("metrics.csv"));
  for (auto& r : rows) append_metrics(r);
}

}  // namespace moco::cli
