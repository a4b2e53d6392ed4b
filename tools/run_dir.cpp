#include "tools/run_dir.h"

#include <algorithm>
#include <cmath>
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

namespace {

bool has_name(const std::vector<std::string>& names, const std::string& n) {
  return std::find(names.begin(), names.end(), n) != names.end();
}

// The names of the CSV's first line; empty when there is no file.
std::vector<std::string> csv_header(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::vector<std::string> out;
  if (!std::getline(f, line)) return out;
  std::stringstream ss(line);
  std::string name;
  while (std::getline(ss, name, ',')) out.push_back(name);
  return out;
}

std::string json_line(const MetricsRow& row) {
  std::string json = "{";
  for (auto& [k, v] : row)
    if (std::isfinite(v)) json += fmt::format("{}\"{}\": {}", json.size() > 1 ? ", " : "", json_escape(k), v);
  return json + "}\n";
}

std::string csv_line(const std::vector<std::string>& columns, const MetricsRow& row) {
  std::string line;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) line += ",";
    const std::optional<double> v = find_value(row, columns[i]);
    if (v && std::isfinite(*v)) line += fmt::format("{}", *v);
  }
  return line + "\n";
}

std::string csv_head(const std::vector<std::string>& columns) {
  std::string line;
  for (size_t i = 0; i < columns.size(); ++i) line += (i ? "," : "") + columns[i];
  return line + "\n";
}

}  // namespace

std::optional<double> find_value(const MetricsRow& row, const std::string& name) {
  for (auto& [k, v] : row)
    if (k == name) return v;
  return std::nullopt;
}

void RunDir::append_metrics(const MetricsRow& row) const { append_row("metrics", {}, row); }

void RunDir::append_row(const std::string& table, const std::vector<std::string>& columns,
                        const MetricsRow& row) const {
  const std::string csv_path = file(table + ".csv");
  const std::vector<std::string> header = csv_header(csv_path);
  std::vector<std::string> want = !columns.empty() ? columns : !header.empty() ? header : std::vector<std::string>{};
  for (auto& [k, v] : row)
    if (!has_name(want, k)) want.push_back(k);
  std::ofstream(file(table + ".jsonl"), std::ios::app) << json_line(row);
  if (header.empty()) {
    std::ofstream(csv_path, std::ios::trunc) << csv_head(want) << csv_line(want, row);
  } else if (want == header) {
    std::ofstream(csv_path, std::ios::app) << csv_line(want, row);
  } else {
    rewrite(table, read_rows(table), want);
  }
}

// Parses the flat {"name": number, ...} lines this class writes.
std::vector<MetricsRow> RunDir::read_rows(const std::string& table) const {
  std::vector<MetricsRow> rows;
  std::ifstream f(file(table + ".jsonl"));
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

std::vector<MetricsRow> RunDir::read_metrics() const { return read_rows("metrics"); }

void RunDir::rewrite(const std::string& table, const std::vector<MetricsRow>& rows,
                     std::vector<std::string> columns) const {
  for (auto& n : csv_header(file(table + ".csv")))
    if (!has_name(columns, n)) columns.push_back(n);
  for (auto& r : rows)
    for (auto& [k, v] : r)
      if (!has_name(columns, k)) columns.push_back(k);
  std::string jsonl, csv = csv_head(columns);
  for (auto& r : rows) {
    jsonl += json_line(r);
    csv += csv_line(columns, r);
  }
  write_file_atomic(file(table + ".jsonl"), jsonl);
  write_file_atomic(file(table + ".csv"), csv);
}

void RunDir::truncate_metrics(size_t keep) const {
  std::vector<MetricsRow> rows = read_metrics();
  if (rows.size() <= keep) return;
  rows.resize(keep);
  if (rows.empty()) {  // a fresh start: the next row decides the header
    fs::remove(file("metrics.jsonl"));
    fs::remove(file("metrics.csv"));
    return;
  }
  rewrite("metrics", rows, {});
}

void RunDir::truncate_rows(const std::string& table, const std::string& key, double max) const {
  std::vector<MetricsRow> rows = read_rows(table), keep;
  for (auto& r : rows) {
    const std::optional<double> v = find_value(r, key);
    if (!v || *v <= max) keep.push_back(r);
  }
  if (keep.size() == rows.size()) return;
  if (keep.empty()) {
    fs::remove(file(table + ".jsonl"));
    fs::remove(file(table + ".csv"));
    return;
  }
  rewrite(table, keep, {});
}

}  // namespace moco::cli
