// The studies' plans and their runs without training: which runs, in which
// order, with which flags, launched through the caller's Launcher (a stop
// ends the study there), and the small JSON files read back.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tensor/error.h"
#include "test_util.h"
#include "tools/tiny_data.h"
#include "train/study/ablate.h"
#include "train/study/compare.h"
#include "train/study/runs.h"

using namespace moco;
using namespace moco::train;
using namespace moco::test_data;
namespace fs = std::filesystem;

namespace {

const TinyData& tiny() {
  static TinyData d("study_plan");
  return d;
}

bool has_flag(const std::vector<std::string>& argv, const std::string& flag, const std::string& value) {
  for (size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == flag && argv[i + 1] == value) return true;
  return false;
}

}  // namespace

TEST_CASE("plan_compare: budgets fitted to the data, the runs of every model and seed, seeds outermost") {
  const auto& d = tiny();
  CompareOptions o;
  o.dataset = "mnist", o.data = d.root + "/data", o.classes = "0,1,2,3";
  o.seeds = 2, o.first_seed = 5, o.epochs = 2, o.pretrain_epochs = 2, o.label_fraction = 0.5;
  o.models = {"resnet", "moco_vit"};
  o.out = d.out("plan");
  const ComparePlan plan = plan_compare(o);
  // 16 a class: 50% labelled but at least the floor of 10 -> 40 labelled; batch 64 clamped to 40 / 4.
  CHECK(plan.n_labelled == 40);
  CHECK(plan.n_pretrain == 64);
  CHECK(plan.finetune.batch == 10);
  CHECK(plan.resolved.at("batch-size") == "10");
  CHECK(plan.resolved.at("width") == "8");  // the quick preset's
  CHECK(plan.resolved.count("classes") == 0);  // given
  std::vector<std::string> order;
  for (const StudyRun* r : plan.order()) order.push_back(fmt::format("{} {} {}", r->seed, r->label, r->command));
  CHECK(order == std::vector<std::string>{"5 resnet train", "5 moco_vit pretrain", "5 moco_vit finetune",
                                          "6 resnet train", "6 moco_vit pretrain", "6 moco_vit finetune"});
  const SeedRun& s = plan.models[1].seeds[1];
  CHECK(s.pretrain.dir == o.out + "/seed6/moco_vit_pretrain");
  CHECK(has_flag(s.pretrain.argv, "--moco-version", "v3"));
  CHECK(has_flag(s.finetune.argv, "--pretrained", s.pretrain.dir));
  CHECK(has_flag(s.finetune.argv, "--seed", "6"));
  CHECK(has_flag(s.finetune.argv, "--label-fraction", "0.5"));
  CHECK(!fs::exists(o.out));  // a plan writes nothing

  o.batch = 64;  // given: must fit, is not clamped
  CHECK_THROWS_WITH_AS(plan_compare(o), doctest::Contains("--batch-size 64 is larger than the 40 images"), UsageError);
}

TEST_CASE("run_compare: every run through the launcher, afresh; a stopped run ends the study with its status") {
  const auto& d = tiny();
  CompareOptions o;
  o.dataset = "mnist", o.data = d.root + "/data", o.classes = "0,1,2,3";
  o.seeds = 1, o.epochs = 1, o.pretrain_epochs = 1, o.label_fraction = 0.5, o.models = {"moco_resnet"};
  o.out = d.out("stopped");
  ComparePlan plan = plan_compare(o);
  std::vector<std::string> seen;
  const int rc = run_compare(plan, false, [&](const StudyRun& r, const std::vector<std::string>& args) {
    seen.push_back(r.command);
    CHECK(args == r.argv);  // a fresh run in an empty folder: its recorded flags as they are
    return 130;             // stopped at once
  });
  CHECK(rc == 130);
  CHECK(seen == std::vector<std::string>{"pretrain"});
  CHECK(!fs::exists(plan.models[0].seeds[0].pretrain.dir + "/wall_time.json"));
}

TEST_CASE("plan_ablate: the values, the reference and one pretrain run per value and seed") {
  const auto& d = tiny();
  AblateOptions o;
  o.what = "T", o.dataset = "mnist", o.data = d.root + "/data", o.steps = 8, o.batch = 16, o.moco_k = 32;
  o.out = d.out("ablate_plan");
  const AblatePlan plan = plan_ablate(o);
  CHECK(plan.resolved.at("values") == "0.07,0.1,0.2,0.5");
  CHECK(plan.resolved.at("seeds") == "2");  // 8 runs / 4 values
  REQUIRE(plan.runs.size() == 4);
  CHECK(plan.runs[plan.ref].value.label == "0.1");  // the recipe's T
  const StudyRun& r = plan.runs[2].seeds[1].run;
  CHECK(r.dir == *o.out + "/T_0.2/seed1");
  CHECK(has_flag(r.argv, "--moco-t", "0.2"));
  CHECK(has_flag(r.argv, "--moco-k", "32"));
  CHECK(has_flag(r.argv, "--epochs", "2"));  // 8 steps of 16 over 64 images
  CHECK_THROWS_WITH_AS(ablate_what(""), doctest::Contains("--what is required"), UsageError);
  o.values = "0.1";
  CHECK_THROWS_WITH_AS(plan_ablate(o), doctest::Contains("at least 2 values"), UsageError);
}

TEST_CASE("read_number: the runs' small JSON files; missing is missing, broken JSON names the file") {
  const std::string dir = tiny().out("numbers");
  fs::create_directories(dir);
  std::ofstream(dir + "/wall_time.json") << "{\"seconds\": 12.345}\n";
  std::ofstream(dir + "/knn_init.json") << "{\"knn_top1\": 63}";
  std::ofstream(dir + "/broken.json") << "{\"knn_top1\": ";
  CHECK(read_number(dir + "/wall_time.json", "seconds", 0) == 12.345);
  CHECK(read_number(dir + "/knn_init.json", "knn_top1", -1) == 63);  // an integer
  CHECK(read_number(dir + "/knn_init.json", "other", -1) == -1);
  CHECK(read_number(dir + "/absent.json", "seconds", -2) == -2);
  CHECK_THROWS_WITH_AS(read_number(dir + "/broken.json", "knn_top1", 0), doctest::Contains("broken.json"), Error);
  CHECK(pm({1, 3}) == "2.00 ± 1.41%");
  CHECK(pm({2}, "") == "2.00");
  CHECK(pm({}) == "—");
}
