#include "train/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "nn/safetensors.h"
#include "tensor/error.h"

namespace moco::train {

namespace fs = std::filesystem;

double round_to_decimals(double x, int digits) { return std::stod(fmt::format("{:.{}f}", x, digits)); }

void write_file_atomic(const std::string& path, const std::string& content) {
  nn::write_file_atomic(path, std::vector<uint8_t>(content.begin(), content.end()));
}

RunLock::RunLock(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  MOCO_CHECK(!ec && fs::is_directory(dir), "cannot create run folder {}: {}", dir, ec ? ec.message() : "not a folder");
  const std::string path = (fs::path(dir) / ".lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  MOCO_CHECK(fd_ >= 0, "cannot open the lock file {}: {}", path, std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {0};
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    const std::string pid = n > 0 ? printable(std::string(buf, size_t(n))) : "unknown";
    ::close(fd_);
    fd_ = -1;
    throw UsageError(fmt::format("run folder {} is in use by another moco process (pid {}): wait for it to finish, "
                                 "or choose another --out",
                                 dir, pid));
  }
  const std::string me = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) != ssize_t(me.size()))
    fail("cannot write the lock file {}: {}", path, std::strerror(errno));
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the flock
}

std::vector<std::string> folder_entries(const std::string& dir, size_t max) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name == ".lock") continue;
    if (out.size() == max) {
      out.push_back("...");
      break;
    }
    out.push_back(printable(name));
  }
  return out;
}

void remove_run_files(const std::string& dir) {
  for (const char* name : {"config.json", "checkpoint.safetensors", "metrics.jsonl", "metrics.csv", "steps.jsonl",
                           "steps.csv", "knn_init.json", "plots.png", "report.md", "wall_time.json"})
    fs::remove(fs::path(dir) / name);
}

void remove_stale_temp_files(const std::string& dir) {
  std::error_code ec;
  std::vector<fs::path> stale;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const size_t t = name.rfind(".tmp");
    if (t == std::string::npos || t == 0) continue;
    const std::string rest = name.substr(t + 4);  // "" or ".PID"
    if (rest.empty() || (rest.size() > 1 && rest[0] == '.' &&
                         rest.find_first_not_of("0123456789", 1) == std::string::npos))
      stale.push_back(it->path());
  }
  for (auto& p : stale) {
    fs::remove(p, ec);
    std::printf("  removed %s, left by a run killed while writing it\n", p.string().c_str());
  }
}

RunDir::RunDir(const std::string& path) : path_(path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  MOCO_CHECK(!ec && fs::is_directory(path), "cannot create run folder {}: {}", path, ec.message());
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

// {"name": value, ...} with the spacing and number spelling of every
// version so far: keys quoted by nlohmann-json, numbers by fmt, whose "{}" is
// the shortest text that reads back the same double (nlohmann's dump writes
// 1.0 for 1 and, in about 1% of doubles, a longer spelling).
std::string json_line(const MetricsRow& row) {
  std::string line = "{";
  for (auto& [k, v] : row)
    if (std::isfinite(v))
      line += fmt::format("{}{}: {}", line.size() > 1 ? ", " : "",
                          nlohmann::json(k).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), v);
  return line + "}\n";
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

// A failed append (a full disk) must stop the run, not leave a table that
// silently lacks rows.
void append_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::app | std::ios::binary);
  MOCO_CHECK(f.good(), "cannot open {} to append a row: {}", path, std::strerror(errno));
  f << text;
  f.flush();
  MOCO_CHECK(f.good(), "cannot append a row to {}: {} (disk full?)", path, std::strerror(errno));
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
  append_file(file(table + ".jsonl"), json_line(row));
  if (header.empty()) {
    write_file_atomic(csv_path, csv_head(want) + csv_line(want, row));
  } else if (want == header) {
    append_file(csv_path, csv_line(want, row));
  } else {
    rewrite(table, read_rows(table), want);
  }
}

// One JSON object of numbers a line, as json_line writes them; blank lines are
// skipped, anything else is an error naming the file and line.
std::vector<MetricsRow> RunDir::read_rows(const std::string& table) const {
  using json = nlohmann::ordered_json;  // a row's names in file order: the CSV's column order
  const std::string path = file(table + ".jsonl");
  std::vector<MetricsRow> rows;
  std::ifstream f(path);
  std::string line;
  for (size_t no = 1; std::getline(f, line); ++no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception& e) {  // a syntax error, or a number past double's range
      // nlohmann's text counts lines and columns within the row: the file's line and the column replace them.
      const auto* syntax = dynamic_cast<const json::parse_error*>(&e);
      std::string why = e.what();
      const size_t at = why.find(syntax ? ": " : "] ");
      if (at != std::string::npos) why = why.substr(at + 2);
      fail("{} line {}{}: not a JSON row ({})", printable(path), no,
           syntax ? fmt::format(", column {}", syntax->byte) : std::string(), printable(why));
    }
    MOCO_CHECK(j.is_object(), "{} line {}: a row is a JSON object of numbers, not a JSON {}", printable(path), no,
               j.type_name());
    MetricsRow row;
    for (auto& [k, v] : j.items()) {
      MOCO_CHECK(v.is_number(), "{} line {}: \"{}\" is a JSON {}, expected a number", printable(path), no,
                 printable(k), v.type_name());
      row.emplace_back(k, v.get<double>());
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

}  // namespace moco::train
