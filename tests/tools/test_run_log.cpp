// The run folder's tables (train/run_dir.h): missing values are empty CSV
// cells and absent JSON keys, older CSV headers widen, resume truncates.
#include <cmath>
#include <filesystem>
#include <fstream>

#include "test_util.h"
#include "tiny_data.h"
#include "train/run_dir.h"

using namespace moco;
using namespace moco::train;
namespace fs = std::filesystem;
using namespace moco::test_data;

namespace {

std::string fresh_dir(const std::string& name) {
  const std::string dir = (fs::temp_directory_path() / ("moco_test_runlog_" + name)).string();
  fs::remove_all(dir);
  return dir;
}

}  // namespace

TEST_CASE("tables: a missing value is an empty CSV cell and an absent JSON key, never -1") {
  RunDir run(fresh_dir("tables"));
  const std::vector<std::string> cols = {"step", "loss", "knn_top1", "queue_age_mean"};
  run.append_row("steps", cols, {{"step", 20}, {"loss", 4.5}, {"queue_age_mean", 7.5}});
  run.append_row("steps", cols, {{"step", 40}, {"loss", 4.25}, {"knn_top1", 51.5}});
  run.append_row("steps", cols, {{"step", 60}, {"loss", std::nan("")}});  // NaN: left out like a missing value
  CHECK(slurp(run.file("steps.csv")) == "step,loss,knn_top1,queue_age_mean\n20,4.5,,7.5\n40,4.25,51.5,\n60,,,\n");
  CHECK(slurp(run.file("steps.jsonl")) ==
        "{\"step\": 20, \"loss\": 4.5, \"queue_age_mean\": 7.5}\n{\"step\": 40, \"loss\": 4.25, \"knn_top1\": 51.5}\n"
        "{\"step\": 60}\n");
  std::vector<MetricsRow> rows = run.read_rows("steps");
  REQUIRE(rows.size() == 3);
  CHECK(find_value(rows[0], "queue_age_mean") == 7.5);
  CHECK_FALSE(find_value(rows[0], "knn_top1").has_value());
  CHECK(find_value(rows[1], "knn_top1") == 51.5);
  CHECK_FALSE(find_value(rows[2], "loss").has_value());

  // On resume the rows after the checkpoint's step go, in both files.
  run.truncate_rows("steps", "step", 40);
  CHECK(run.read_rows("steps").size() == 2);
  CHECK(slurp(run.file("steps.csv")) == "step,loss,knn_top1,queue_age_mean\n20,4.5,,7.5\n40,4.25,51.5,\n");
  run.truncate_rows("steps", "step", 0);
  CHECK(run.read_rows("steps").empty());
  CHECK_FALSE(fs::exists(run.file("steps.csv")));
  fs::remove_all(run.path());
}

TEST_CASE("tables: a new column (an older run folder resumed) rewrites the CSV with every row in its column") {
  RunDir run(fresh_dir("widen"));
  run.append_metrics({{"epoch", 1}, {"loss", 5}, {"knn_top1", 40}});  // as older versions wrote
  run.append_row("metrics", {"epoch", "loss", "loss_chance", "knn_top1"}, {{"epoch", 2}, {"loss", 4}, {"loss_chance", 8}});
  CHECK(slurp(run.file("metrics.csv")) == "epoch,loss,loss_chance,knn_top1\n1,5,,40\n2,4,8,\n");
  run.append_metrics({{"epoch", 3}, {"loss", 3}});  // the header now in place decides the columns
  CHECK(slurp(run.file("metrics.csv")) == "epoch,loss,loss_chance,knn_top1\n1,5,,40\n2,4,8,\n3,3,,\n");
  run.truncate_metrics(1);
  CHECK(slurp(run.file("metrics.csv")) == "epoch,loss,loss_chance,knn_top1\n1,5,,40\n");
  CHECK(run.read_metrics().size() == 1);
  fs::remove_all(run.path());
}
