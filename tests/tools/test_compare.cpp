// `moco compare` end to end on a tiny generated data set (IDX files in a
// temp folder, 4 classes of 16x16 bar patterns) with tiny models: every run
// of every seed, report.md, summary.json read back against the run folders,
// resuming a finished study, and what the data cannot supply.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "run_checks.h"
#include "test_util.h"
#include "tiny_data.h"
#include "tools/args.h"
#include "tools/compare.h"
#include "train/run_dir.h"

using namespace moco;
using namespace moco::cli;
namespace fs = std::filesystem;
using namespace moco::test_data;
using json = nlohmann::json;

namespace {

const TinyData& tiny() {
  static TinyData d("compare");
  return d;
}

}  // namespace

TEST_CASE("compare: two seeds of four models, report.md, summary.json with verdicts, curves.png") {
  const auto& d = tiny();
  const std::string out = d.out("study");
  const std::vector<std::string> base = {"--classes", "0,1,2,3", "--epochs", "2", "--pretrain-epochs", "2", "--width",
                                         "4", "--vit-dim", "16", "--vit-depth", "1", "--vit-heads", "2",
                                         "--batch-size", "16", "--pretrain-batch-size", "16", "--label-fraction",
                                         "0.5", "--data-fraction", "1", "--seeds", "2"};
  REQUIRE(compare_command(d.args(plus(base, {"--out", out}))) == 0);
  std::ifstream f(out + "/report.md");
  std::string md((std::istreambuf_iterator<char>(f)), {});
  for (const char* row : {"| resnet | none |", "| moco_resnet | MoCo v2", "| vit | none |", "| moco_vit | MoCo v3",
                          "## Verdicts", "| MoCo pretraining helps the ResNet |", "## Per seed", "| moco_vit | 1 |",
                          "## Budgets"})
    CHECK_MESSAGE(md.find(row) != std::string::npos, row);
  CHECK(md.find("moco pretrain --dataset mnist") != std::string::npos);
  CHECK(md.find("moco finetune") != std::string::npos);
  // 16 images a class, 50% labelled but at least the floor of 10: 40 labelled images, 2 steps of 16 an epoch.
  CHECK(md.find("40 labelled images") != std::string::npos);
  for (const char* seed : {"seed0", "seed1"})
    for (const char* run : {"resnet", "moco_resnet", "moco_resnet_pretrain", "vit", "moco_vit", "moco_vit_pretrain"}) {
      INFO(seed << "/" << run);
      CHECK(RunDir(out + "/" + seed + "/" + run).read_metrics().size() == 2);
      CHECK(fs::is_regular_file(out + "/" + seed + "/" + run + "/checkpoint.safetensors"));
    }
  // summary.json: machine-readable, the names the issue fixed
  std::ifstream sj(out + "/summary.json");
  REQUIRE(sj);
  std::string text((std::istreambuf_iterator<char>(sj)), {});
  const json j = json::parse(text);
  REQUIRE(j.contains("seeds"));
  CHECK(j["seeds"] == 2);
  CHECK(j["preset"] == "quick");
  REQUIRE(j.contains("models"));
  const json& models = j["models"];
  for (const char* name : {"resnet", "moco_resnet", "vit", "moco_vit"}) {
    INFO(name);
    REQUIRE(models.contains(name));
    const json& m = models[name];
    CHECK(m["seeds"] == 2);
    CHECK(m["steps"] == 4);  // 2 epochs x 2 steps
    for (const char* key : {"best_top1_mean", "best_top1_std", "final_top1_mean", "smoothness_mean"}) {
      INFO(key);
      REQUIRE(m.contains(key));
      CHECK(m[key].is_number_float());
    }
    const bool moco = std::string(name).rfind("moco_", 0) == 0;
    CHECK(m["knn_mean"].is_number_float() == moco);
    CHECK(m["knn_init_mean"].is_number_float() == moco);
    CHECK(m["pretrain_steps"].is_number_integer() == moco);
  }
  // the mean in summary.json is the mean of the per-seed values in the run folders
  {
    std::vector<double> best;
    for (const char* seed : {"seed0", "seed1"}) {
      double b = 0;
      for (auto& row : RunDir(out + "/" + seed + "/vit").read_metrics())
        for (auto& [k, v] : row)
          if (k == "val_top1") b = std::max(b, v);
      best.push_back(b);
    }
    CHECK(models["vit"]["best_top1_mean"].get<double>() == doctest::Approx((best[0] + best[1]) / 2).epsilon(1e-3));
  }
  REQUIRE(j.contains("verdicts"));
  const json& verdicts = j["verdicts"];
  for (const char* key : {"moco_resnet_vs_resnet", "moco_vit_vs_vit", "smoothness"}) {
    INFO(key);
    REQUIRE(verdicts.contains(key));
    const json& v = verdicts[key];
    REQUIRE(v.contains("ci95"));
    CHECK(v["ci95"].size() == 2);
    const std::string verdict = v["verdict"];
    CHECK((verdict == "holds" || verdict == "reversed" || verdict == "not resolved at this budget"));
  }
  if (std::system("command -v gnuplot > /dev/null 2>&1") == 0) CHECK(fs::is_regular_file(out + "/curves.png"));
  // Resuming a finished study redoes nothing and rewrites the report.
  fs::remove(out + "/report.md");
  REQUIRE(compare_command({"--resume", out}) == 0);
  CHECK(fs::is_regular_file(out + "/report.md"));
  CHECK(RunDir(out + "/seed1/moco_vit").read_metrics().size() == 2);
}

TEST_CASE("compare: what the data cannot supply is a usage error naming the flag and the numbers") {
  const auto& d = tiny();
  const std::vector<std::string> base = {"--classes", "0,1,2,3", "--epochs", "1", "--pretrain-epochs", "1", "--width",
                                         "4", "--vit-dim", "16", "--vit-depth", "1", "--vit-heads", "2",
                                         "--label-fraction", "0.5", "--out", d.out("bad_study")};
  CHECK_THROWS_AS(compare_command(d.args(plus(base, {"--seeds", "0"}))), UsageError);
  CHECK_THROWS_CONTAINS(compare_command(d.args(plus(base, {"--seeds", "0"}))), "--seeds must be at least 1, got 0");
  // 16 images a class: 1% keeps 1, with no floor
  CHECK_THROWS_AS(compare_command(d.args(plus(base, {"--label-fraction", "0.01", "--label-floor", "1"}))), UsageError);
  CHECK_THROWS_CONTAINS(compare_command(d.args(plus(base, {"--label-fraction", "0.01", "--label-floor", "1"}))),
                        "with 1 labelled image (of 16");
  // 40 labelled images (floor 10 of 16 a class)
  CHECK_THROWS_AS(compare_command(d.args(plus(base, {"--batch-size", "64"}))), UsageError);
  CHECK_THROWS_CONTAINS(compare_command(d.args(plus(base, {"--batch-size", "64"}))),
                        "--batch-size 64 is larger than the 40 images");
  CHECK_THROWS_CONTAINS(compare_command(d.args(plus(base, {"--pretrain-batch-size", "128"}))),
                        "--pretrain-batch-size 128 is larger than the 64 images");
  CHECK_THROWS_AS(compare_command(d.args(plus(base, {"--moco-k", "128"}))), UsageError);
  CHECK_THROWS_CONTAINS(compare_command(d.args(plus(base, {"--moco-k", "128"}))),
                        "--moco-k 128 is larger than the 64 pretraining images");
  CHECK_THROWS_CONTAINS(compare_command(d.args(plus(base, {"--preset", "huge"}))), "--preset must be quick, standard");
  // 10% of 16 a class with a floor of 2: 8 labelled images, batches of 2: too small to compare anything.
  CHECK_THROWS_AS(compare_command(d.args(plus(base, {"--label-fraction", "0.1", "--label-floor", "2"}))), UsageError);
  CHECK_THROWS_CONTAINS(compare_command(d.args(plus(base, {"--label-fraction", "0.1", "--label-floor", "2"}))),
                        "the split has 8 images, too few for 4 steps an epoch of at least 8 images");
  CHECK_FALSE(fs::exists(d.out("bad_study") + "/report.md"));
}
