// A run folder: the resolved configuration (config.json) and one metrics
// row per epoch, appended to metrics.jsonl and metrics.csv.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace moco::cli {

using MetricsRow = std::vector<std::pair<std::string, double>>;

class RunDir {
 public:
  explicit RunDir(const std::string& path);  // creates it (and parents)
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write_config(const std::map<std::string, std::string>& config, const std::string& command) const;
  // Appends a row; the CSV header is written with the first row of a new file.
  void append_metrics(const MetricsRow& row) const;
  // Reads metrics.jsonl back (for resuming and for reports).
  std::vector<MetricsRow> read_metrics() const;
  // Keeps only the first `rows` rows (resuming from an earlier epoch).
  void truncate_metrics(size_t rows) const;

 private:
  std::string path_;
};

// Writes `content` to `path` through a temporary file and a rename, so a
// crash never leaves a half-written file in place of a good one.
void write_file_atomic(const std::string& path, const std::string& content);
std::string json_escape(const std::string& s);

}  // namespace moco::cli
