// A run folder: the resolved configuration (config.json, train/run_config.h) and tables of
// named numbers, each kept twice: TABLE.jsonl (one JSON object per line) and
// TABLE.csv (a header line, then one line per row). `moco pretrain` writes
// "metrics" (one row per epoch) and "steps" (one row every --log-every
// steps). A value that does not apply is left out of its row: an absent key
// in the JSONL, an empty cell in the CSV (never a stand-in such as -1).
// NaN and infinities are left out the same way (JSON has no spelling for them).
#pragma once
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace moco::train {

using MetricsRow = std::vector<std::pair<std::string, double>>;

class RunDir {
 public:
  explicit RunDir(const std::string& path);  // creates it (and parents)
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Appends a row to the "metrics" table; its CSV columns are those of the
  // file's header, or of the first row of a new file (see append_row).
  void append_metrics(const MetricsRow& row) const;
  // Reads metrics.jsonl back (for resuming and for reports).
  std::vector<MetricsRow> read_metrics() const;
  // Keeps only the first `rows` rows (resuming from an earlier epoch).
  void truncate_metrics(size_t rows) const;

  // Appends `row` to TABLE.jsonl and TABLE.csv. `columns`: the CSV header,
  // every name this table's rows may hold, in order (empty: the existing
  // header, or the row's names). A CSV whose header lacks a name (a run
  // folder of an older version, resumed) is rewritten from the JSONL with
  // the wider header, so every row stays in its column.
  void append_row(const std::string& table, const std::vector<std::string>& columns, const MetricsRow& row) const;
  // TABLE.jsonl's rows ({} without the file); a line that is not a JSON
  // object of numbers is an error naming the file and the line.
  std::vector<MetricsRow> read_rows(const std::string& table) const;
  // Keeps the rows whose `key` is at most `max` (and those without it): on
  // resume, the steps after the checkpoint go.
  void truncate_rows(const std::string& table, const std::string& key, double max) const;

 private:
  // Rewrites both files of `table` with `rows`, keeping the CSV header's columns first.
  void rewrite(const std::string& table, const std::vector<MetricsRow>& rows, std::vector<std::string> columns) const;
  std::string path_;
};

// One writer per run folder: an exclusive flock on DIR/.lock, held while the
// object lives and dropped by the kernel when the process dies (a killed run
// leaves no stale lock). A second writer is refused, naming the holder's pid.
class RunLock {
 public:
  explicit RunLock(const std::string& dir);  // creates the folder
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

// Up to `max` names of what `dir` holds besides its lock file ({} when it
// does not exist or is empty): a run folder that is in use.
std::vector<std::string> folder_entries(const std::string& dir, size_t max = 4);
// Removes the files a run writes into its folder (what --overwrite replaces).
void remove_run_files(const std::string& dir);
// Removes NAME.tmp / NAME.tmp.PID files that a writer killed mid-write left;
// the caller holds the folder's lock, so none of them is being written.
void remove_stale_temp_files(const std::string& dir);

// The value of `name` in `row`, if it is there.
std::optional<double> find_value(const MetricsRow& row, const std::string& name);

// Writes `content` to `path` through a temporary file and a rename, so a
// crash never leaves a half-written file in place of a good one.
void write_file_atomic(const std::string& path, const std::string& content);

// `x` to `digits` decimals, the number printf's %.Nf shows: what the JSON a
// report writes holds (timings and percentages carry no more than that).
double round_to_decimals(double x, int digits);

}  // namespace moco::train
