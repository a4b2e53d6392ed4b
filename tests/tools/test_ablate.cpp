// `moco ablate` end to end on a tiny generated data set (IDX files in a temp
// folder, 4 classes of 16x16 bar patterns, as test_train.cpp) with tiny
// budgets: the run folders, table.md, summary.json (its means are those of
// the run folders), plot.png, the shuffle-BN-off path, --resume, and usage
// errors for what cannot be run; and plot_png's labelled ticks and log x.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "nn/state_dict.h"
#include "test_util.h"
#include "run_checks.h"
#include "tiny_data.h"
#include "tools/ablate.h"
#include "tools/args.h"
#include "tools/cli_common.h"
#include "tools/plot.h"
#include "train/run_dir.h"

using namespace moco;
using namespace moco::cli;
namespace fs = std::filesystem;
using namespace moco::test_data;

namespace {

// 64 images, batch 16: 4 steps an epoch; 8 steps = 2 epochs.
struct AblateData : TinyData {
  using TinyData::TinyData;
  std::vector<std::string> args(std::vector<std::string> extra) const {
    return TinyData::args(plus({"--width", "4", "--steps", "8", "--batch-size", "16", "--knn-test", "0"}, extra));
  }
};

const AblateData& tiny() {
  static AblateData d("ablate");
  return d;
}

bool have_gnuplot() { return std::system("command -v gnuplot > /dev/null 2>&1") == 0; }

using json = nlohmann::json;

double num(const json& j) {
  REQUIRE(j.is_number());
  return j.get<double>();
}

}  // namespace

TEST_CASE("ablate --what m: a run per value and seed, table.md, summary.json from the run folders, plot.png") {
  const auto& d = tiny();
  const std::string out = d.out("ablate_m");
  REQUIRE(ablate_command(d.args({"--what", "m", "--values", "0.99,0", "--seeds", "2", "--moco-k", "32", "--out", out})) ==
          0);
  // Values sorted, seeds 0 and 1, 2 epochs of 4 steps each.
  for (const char* run : {"m_0/seed0", "m_0/seed1", "m_0.99/seed0", "m_0.99/seed1"}) {
    INFO(run);
    const std::string dir = out + "/" + run;
    CHECK(column(dir, "epoch") == std::vector<double>{1, 2});
    CHECK(column(dir, "knn_top1").size() == 1);  // after the last epoch only
    CHECK(fs::is_regular_file(dir + "/knn_init.json"));
    CHECK(fs::is_regular_file(dir + "/checkpoint.safetensors"));
    CHECK(RunDir(dir).read_rows("steps").size() == 8);  // --log-every 1 for 8 steps
  }
  // The ablated flag reached the runs; the rest is the recipe.
  const std::string cfg0 = out + "/m_0/seed0";
  CHECK(config_flag(cfg0, "moco-m") == "0");
  CHECK(config_flag(cfg0, "mlp") == "0");
  CHECK(config_flag(cfg0, "moco-t") == "0.1");
  CHECK(config_flag(cfg0, "bn-splits") == "2");
  CHECK(config_flag(cfg0, "shuffle-bn") == "1");
  CHECK(config_flag(out + "/m_0.99/seed0", "moco-m") == "0.99");
  // Same seed, same start: the kNN at init agrees, the training does not.
  CHECK(column(out + "/m_0/seed0", "loss") != column(out + "/m_0.99/seed0", "loss"));
  CHECK(slurp(out + "/m_0/seed0/knn_init.json") == slurp(out + "/m_0.99/seed0/knn_init.json"));

  const json j = json::parse(slurp(out + "/summary.json"));
  CHECK(j["what"] == "m");
  CHECK(j["flag"] == "--moco-m");
  CHECK(j["seeds"] == 2);
  CHECK(j["steps"] == 8);
  CHECK(j["epochs"] == 2);
  CHECK(j["batch"] == 16);
  CHECK(j["reference"] == "0.99");
  REQUIRE(j.contains("values"));
  const json& values = j["values"];
  REQUIRE(values.size() == 2);
  CHECK(values[0]["value"] == "0");
  CHECK(values[1]["value"] == "0.99");
  CHECK(values[1]["vs_reference"]["verdict"] == "reference");
  for (size_t v = 0; v < 2; ++v) {
    const json& e = values[v];
    const std::string label = e["value"];
    INFO("m = " << label);
    // The means are those of the run folders' last kNN and last-epoch pretext accuracy.
    std::vector<double> knn, pretext;
    for (const char* seed : {"seed0", "seed1"}) {
      knn.push_back(column(out + "/m_" + label + "/" + seed, "knn_top1").back());
      pretext.push_back(column(out + "/m_" + label + "/" + seed, "inst_top1").back());
    }
    REQUIRE(e["knn"].size() == 2);
    CHECK(num(e["knn"][0]) == doctest::Approx(knn[0]).epsilon(1e-4));
    CHECK(num(e["knn_mean"]) == doctest::Approx((knn[0] + knn[1]) / 2).epsilon(1e-4));
    CHECK(num(e["knn_std"]) == doctest::Approx(std::abs(knn[0] - knn[1]) / std::sqrt(2.0)).epsilon(1e-3));
    CHECK(num(e["pretext_top1_mean"]) == doctest::Approx((pretext[0] + pretext[1]) / 2).epsilon(1e-4));
    CHECK(num(e["knn_init_mean"]) > 0);
  }
  const json& diff = values[0]["vs_reference"];
  CHECK(num(diff["diff_mean"]) == doctest::Approx(num(values[0]["knn_mean"]) - num(values[1]["knn_mean"])).epsilon(1e-3));
  CHECK(diff["ci95"].size() == 2);
  // The paragraph quotes this run's numbers.
  const std::string para = j["paper_vs_here"];
  CHECK(para.find("0.999 → 59.0%") != std::string::npos);
  CHECK(para.find(fmt::format("m = 0 → {:.2f}%", num(values[0]["knn_mean"]))) != std::string::npos);

  const std::string md = slurp(out + "/table.md");
  for (const char* s : {"# moco ablate --what m: the key encoder's momentum", "| m | kNN seed 0 | kNN seed 1 |",
                        "| 0 |", "| **0.99** |", "| reference |", "## Paper vs here", "## Commands",
                        "moco ablate --dataset mnist", "--moco-m 0 ", "--moco-m 0.99 ", "--knn-init"})
    CHECK_MESSAGE(md.find(s) != std::string::npos, s);
  if (have_gnuplot()) {
    CHECK(fs::is_regular_file(out + "/plot.png"));
    CHECK(md.find("](plot.png)") != std::string::npos);
    const std::string gp = slurp(out + "/plot.png.gp");
    CHECK(gp.find("set xtics (\"0\" 0, \"0.99\" 1)") != std::string::npos);  // m as categories
    CHECK(gp.find("pretext accuracy during pretraining") != std::string::npos);
  }

  // Resuming a finished ablation trains nothing more and rewrites the reports.
  fs::remove(out + "/table.md");
  REQUIRE(ablate_command({"--resume", out}) == 0);
  CHECK(fs::is_regular_file(out + "/table.md"));
  CHECK(column(out + "/m_0/seed1", "epoch") == std::vector<double>{1, 2});
}

TEST_CASE("ablate --what shuffle-bn: the off run keeps the batch order; --what K draws on a log axis") {
  const auto& d = tiny();
  const std::string out = d.out("ablate_sbn");
  REQUIRE(ablate_command(d.args({"--what", "shuffle-bn", "--seeds", "1", "--moco-k", "32", "--out", out})) == 0);
  CHECK(config_flag(out + "/shuffle-bn_off/seed0", "shuffle-bn") == "0");
  CHECK(config_flag(out + "/shuffle-bn_on/seed0", "shuffle-bn") == "1");
  CHECK(column(out + "/shuffle-bn_off/seed0", "loss") != column(out + "/shuffle-bn_on/seed0", "loss"));
  const json j = json::parse(slurp(out + "/summary.json"));
  CHECK(j["reference"] == "on");
  REQUIRE(j["values"].size() == 2);
  CHECK(j["values"][0]["value"] == "on");  // shuffle-bn keeps the given order
  CHECK(j["paper_vs_here"].get<std::string>().find("Pretext accuracy, off vs on") != std::string::npos);

  const std::string outk = d.out("ablate_k");
  REQUIRE(ablate_command(d.args({"--what", "K", "--values", "48,16", "--seeds", "1", "--out", outk})) == 0);
  CHECK(nn::find_tensor(load_checkpoint(outk + "/K_48/seed0").model, "queue").shape() == Shape{128, 48});
  CHECK(config_flag(outk + "/K_16/seed0", "moco-k") == "16");
  if (have_gnuplot()) {
    const std::string gp = slurp(outk + "/plot.png.gp");
    CHECK(gp.find("set logscale x") != std::string::npos);
    CHECK(gp.find("set xtics (\"16\" 16, \"48\" 48)") != std::string::npos);
  }
}

TEST_CASE("ablate: bad input is a usage error naming the flag and the allowed values") {
  const auto& d = tiny();
  auto run = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), {"--out", d.out("ablate_bad")});
    return ablate_command(d.args(extra));
  };
  CHECK_THROWS_AS(run({"--what", "x"}), UsageError);
  CHECK_THROWS_CONTAINS(run({"--what", "x"}), "--what must be m, K, T or shuffle-bn, got 'x'");
  CHECK_THROWS_AS(run({}), UsageError);
  CHECK_THROWS_CONTAINS(run({}), "--what is required");
  CHECK_THROWS_CONTAINS(run({"--what", "m", "--values", "0"}), "at least 2 values");
  CHECK_THROWS_CONTAINS(run({"--what", "m", "--values", "0,0.9,0"}), "0 is given twice");
  CHECK_THROWS_CONTAINS(run({"--what", "m", "--values", "0,1.5"}), "m = 1.5 is outside [0, 1]");
  CHECK_THROWS_CONTAINS(run({"--what", "T", "--values", "0.1,abc"}), "'abc' is not a number");
  CHECK_THROWS_CONTAINS(run({"--what", "T", "--values", "0.1,0"}), "T = 0 must be positive");
  CHECK_THROWS_CONTAINS(run({"--what", "shuffle-bn", "--values", "on,maybe"}), "takes on and off, got 'maybe'");
  CHECK_THROWS_CONTAINS(run({"--what", "K", "--values", "16,20"}), "K = 20 must be a multiple of the batch 16");
  CHECK_THROWS_CONTAINS(run({"--what", "K", "--values", "16,128"}), "larger than the 64 pretraining images");
  // 64 images allow no 256..: the default range needs --values
  CHECK_THROWS_CONTAINS(run({"--what", "K"}), "give --values");
  CHECK_THROWS_CONTAINS(run({"--what", "m", "--moco-m", "0.9"}), "--moco-m is what --what m varies");
  CHECK_THROWS_CONTAINS(run({"--what", "m", "--preset", "full"}), "--preset must be quick, got 'full'");
  CHECK_THROWS_CONTAINS(run({"--what", "m", "--seeds", "0"}), "--seeds must be in [1, 1000], got 0");
  CHECK_THROWS_AS(run({"--what", "m", "--batch-size", "128"}), UsageError);  // more than the 64 images
  CHECK(!fs::exists(d.out("ablate_bad")));  // nothing written before the command line is known to be good
}

TEST_CASE("plot_png: labelled x ticks, log x and an x range reach the gnuplot script") {
  if (!have_gnuplot()) {
    MESSAGE("gnuplot not installed: skipped");
    return;
  }
  const std::string png = (fs::temp_directory_path() / ("moco_test_ablate_plot_" + std::to_string(::getpid()) + ".png")).string();
  Panel a{"categories", "m", "y", {Series("s", {0, 1, 2}, {1, 2, 3})}};
  a.xtics = {{0, "0"}, {1, "0.9"}, {2, "0.99"}};
  a.xrange = "[-0.5:2.5]";
  Panel b{"log", "K", "y", {Series("s", {256, 1024, 4096}, {1, 2, 3})}};
  b.logx = true;
  plot_png(png, {a, b}, 800, 300);
  const std::string gp = slurp(png + ".gp");
  CHECK(gp.find("set xtics (\"0\" 0, \"0.9\" 1, \"0.99\" 2)\nunset logscale x\nset xrange [-0.5:2.5]") !=
        std::string::npos);
  CHECK(gp.find("set xtics autofreq\nset logscale x\nset xrange [*:*]") != std::string::npos);
  CHECK(fs::is_regular_file(png));
  for (const char* ext : {"", ".gp", ".dat", ".log"}) fs::remove(png + ext);
}
