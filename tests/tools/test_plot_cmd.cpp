// `moco plot` (tools/run_plot.h) on folders that hold only some of the
// columns, several runs in one picture, and folders with no metrics: a clear
// message and exit status 2 (a UsageError, which main.cpp maps to 2).
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "test_util.h"
#include "tiny_data.h"
#include "tools/args.h"
#include "train/run_dir.h"
#include "tools/run_plot.h"

using namespace moco;
using namespace moco::cli;
using namespace moco::train;
namespace fs = std::filesystem;
using namespace moco::test_data;

namespace {

std::string fresh_dir(const std::string& name) {
  const std::string dir = (fs::temp_directory_path() / ("moco_test_runlog_" + name)).string();
  fs::remove_all(dir);
  return dir;
}

bool have_gnuplot() { return std::system("command -v gnuplot > /dev/null 2>&1") == 0; }

bool is_png(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[8] = {};
  f.read(magic, 8);
  return std::string(magic + 1, 3) == "PNG";
}

}  // namespace

TEST_CASE("moco plot: a folder with only some columns plots what it has; several runs in one picture") {
  // An older pretrain folder: epoch rows only, no internals, kNN on some epochs.
  RunDir old(fresh_dir("old_pretrain"));
  for (int e = 1; e <= 4; ++e) {
    MetricsRow r = {{"epoch", double(e)}, {"loss", 6.0 - e}, {"lr", 0.06}, {"moco_m", 0.99}, {"inst_top1", 10.0 * e}};
    if (e % 2 == 0) r.emplace_back("knn_top1", 50.0 + e);
    old.append_metrics(r);
  }
  // A supervised run: train_loss and val_top1 only.
  RunDir sup(fresh_dir("supervised"));
  sup.append_metrics({{"epoch", 1}, {"train_loss", 1.5}, {"val_top1", 60}});
  sup.append_metrics({{"epoch", 2}, {"train_loss", 1.0}, {"val_top1", 70}});
  if (!have_gnuplot()) {
    MESSAGE("gnuplot not installed: moco plot test skipped (make deps installs gnuplot-nox)");
  } else {
    REQUIRE(plot_command({old.path()}) == 0);
    CHECK(is_png(old.file("plots.png")));
    const std::string gp = slurp(old.file("plots.png.gp"));
    CHECK(gp.find("title \"kNN top-1\"") != std::string::npos);
    CHECK(gp.find("title \"loss\"") != std::string::npos);
    CHECK(gp.find("encoder drift") == std::string::npos);  // no values: no panel
    CHECK(gp.find("layout 2,3") != std::string::npos);      // loss, inst, kNN, lr, m
    const std::string two = old.file("two.png");
    REQUIRE(plot_command({old.path(), sup.path(), "--out", two}) == 0);
    CHECK(is_png(two));
    const std::string gp2 = slurp(two + ".gp");
    CHECK(gp2.find("title \"moco_test_runlog_old_pretrain: loss\"") != std::string::npos);  // legends name the run
    CHECK(gp2.find("title \"moco_test_runlog_supervised: validation top-1\"") != std::string::npos);
  }
  fs::remove_all(old.path());
  fs::remove_all(sup.path());
}

TEST_CASE("moco plot: no metrics is a usage error (exit status 2) with a message that says what is missing") {
  const std::string empty = fresh_dir("empty");
  fs::create_directories(empty);
  const std::string png = empty + "/p.png";
  CHECK_THROWS_AS(plot_command({empty}), UsageError);
  CHECK_THROWS_CONTAINS(plot_runs({empty}, png), "has no metrics (no rows in metrics.jsonl or steps.jsonl)");
  CHECK_THROWS_AS(plot_command({empty + "/nowhere"}), UsageError);
  CHECK_THROWS_CONTAINS(plot_runs({empty + "/nowhere"}, png), "is not a folder");
  CHECK_THROWS_AS(plot_command({}), UsageError);
  CHECK_THROWS_CONTAINS(plot_command({}), "needs at least one run folder");
  // Rows, but none of the curves: still a usage error, not an empty picture.
  RunDir other(empty);
  other.append_metrics({{"epoch", 1}, {"something_else", 3}});
  CHECK_THROWS_AS(plot_command({empty}), UsageError);
  CHECK_THROWS_CONTAINS(plot_runs({empty}, png), "nothing to plot");
  CHECK_FALSE(fs::exists(other.file("plots.png")));
  CHECK_FALSE(fs::exists(png));
  fs::remove_all(empty);
}
