// The training subcommands end to end on a tiny generated data set (IDX files
// in a temp folder, 4 classes of 16x16 bar patterns) with tiny models:
// resume is bit-exact, a NaN loss stops the run and keeps the last good
// checkpoint, the linear probe leaves the backbone alone, checkpoints carry
// what linear / finetune / knn need, --device cuda fails clearly without CUDA.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "nn/safetensors.h"
#include "nn/state_dict.h"
#include "test_util.h"
#include "run_checks.h"
#include "tiny_data.h"
#include "tools/args.h"
#include "tools/cli_common.h"
#include "tools/compare.h"
#include "tools/pretrain.h"
#include "train/run_dir.h"
#include "tools/supervised.h"

using namespace moco;
using namespace moco::cli;
namespace fs = std::filesystem;
using namespace moco::test_data;

namespace {

const TinyData& tiny() {
  static TinyData d("train");
  return d;
}

const std::vector<std::string> kV2 = {"--moco-version", "v2", "--arch",    "resnet18", "--width",      "4",
                                      "--batch-size",   "16", "--moco-k",  "64",       "--bn-splits",  "2",
                                      "--epochs",       "2",  "--seed",    "3",        "--knn-k",      "10"};
const std::vector<std::string> kV3 = {"--moco-version", "v3",  "--arch",        "vit_tiny", "--vit-dim",  "32",
                                      "--vit-depth",    "2",   "--vit-heads",   "2",        "--patch-size", "4",
                                      "--moco-mlp-dim", "64",  "--batch-size",  "16",       "--epochs",   "2",
                                      "--warmup-epochs", "1",  "--seed",        "5",        "--knn-k",    "10"};

}  // namespace

TEST_CASE("--config RUN/config.json runs RUN again: its first epoch bit for bit; flags given override it") {
  const auto& d = tiny();
  const std::string run = d.out("cfg_run"), again = d.out("cfg_again");
  REQUIRE(pretrain_command(d.args(plus(kV2, {"--out", run, "--stop-after", "1"}))) == 0);  // epoch 1 of 2
  // No data, model or recipe flag: all of them come from the file.
  REQUIRE(pretrain_command({"--config", run + "/config.json", "--out", again, "--epochs", "1"}) == 0);
  check_same_checkpoint(run, again);  // every weight, the optimiser state and the epoch
  CHECK(column(run, "loss") == column(again, "loss"));
  CHECK(column(run, "knn_top1") == column(again, "knn_top1"));
  CHECK(config_flag(again, "epochs") == "1");  // given: overrides the file's 2
  CHECK(config_flag(again, "seed") == "3");
  CHECK(config_flag(again, "mlp") == "1");     // v2's preset, resolved in the file
  CHECK(config_flag(again, "image-size") == "16");  // resolved from the images, not the flag's 0
  CHECK(config_flag(again, "stem") == "small");
  CHECK(config_flag(again, "vit-dim").empty());  // a ResNet has none
  // A switch the first run turned off stays off, though the preset turns it on.
  const std::string off = d.out("cfg_off"), off2 = d.out("cfg_off2");
  REQUIRE(pretrain_command(d.args(plus(kV2, {"--out", off, "--mlp=0", "--epochs", "1", "--knn-every", "0"}))) == 0);
  REQUIRE(pretrain_command({"--config", off, "--out", off2}) == 0);  // the folder works too
  CHECK(config_flag(off2, "mlp") == "0");
  check_same_checkpoint(off, off2);
  // Another command's configuration is refused before anything is written.
  CHECK_THROWS_CONTAINS(supervised_command(SupervisedMode::train, {"--config", run, "--out", d.out("cfg_x")}),
                        "the configuration of a `moco pretrain` run, not of `moco train`");
  CHECK_FALSE(fs::exists(d.out("cfg_x")));
  CHECK_THROWS_CONTAINS(pretrain_command({"--config", d.out("nowhere.json"), "--out", d.out("cfg_y")}),
                        "--config: no file at");
  // A file edited by hand: an unknown key, a wrong type, a newer format; each a usage error naming it.
  const std::string good = slurp(run + "/config.json");
  auto edited = [&](const std::string& from, const std::string& to) {
    std::string t = good;
    const size_t at = t.find(from);
    REQUIRE(at != std::string::npos);
    t.replace(at, from.size(), to);
    write_file_atomic(d.out("edited.json"), t);
    return std::vector<std::string>{"--config", d.out("edited.json"), "--out", d.out("cfg_z")};
  };
  CHECK_THROWS_AS(pretrain_command(edited("\"moco-k\": 64", "\"moco-kk\": 64")), UsageError);
  CHECK_THROWS_CONTAINS(pretrain_command(edited("\"moco-k\": 64", "\"moco-kk\": 64")),
                        "\"moco-kk\" is not a flag of moco pretrain");
  CHECK_THROWS_CONTAINS(pretrain_command(edited("\"mlp\": true", "\"mlp\": \"yes\"")),
                        "\"mlp\" must be true or false, got 'yes'");
  CHECK_THROWS_CONTAINS(pretrain_command(edited("\"moco-k\": 64", "\"moco-k\": true")),
                        "\"moco-k\" must be a number or a string, got a boolean");
  CHECK_THROWS_AS(pretrain_command(edited("\"moco-k\": 64", "\"moco-k\": [64]")), UsageError);
  CHECK_THROWS_CONTAINS(pretrain_command(edited("\"moco-k\": 64", "\"moco-k\": [64]")), "\"moco-k\" has the value [64]");
  CHECK_THROWS_AS(pretrain_command(edited("\"format\": 2", "\"format\": 3")), UsageError);
  CHECK_THROWS_CONTAINS(pretrain_command(edited("\"format\": 2", "\"format\": 3")),
                        "a run configuration of format 3, written by a newer moco");
  CHECK_FALSE(fs::exists(d.out("cfg_z")));
}

TEST_CASE("pretrain v2: 2 epochs straight == 1 epoch + --resume + 1 epoch, bit for bit") {
  const auto& d = tiny();
  REQUIRE(pretrain_command(d.args(plus(kV2, {"--out", d.out("v2_straight")}))) == 0);
  REQUIRE(pretrain_command(d.args(plus(kV2, {"--out", d.out("v2_split"), "--stop-after", "1"}))) == 0);
  CHECK(load_checkpoint(d.out("v2_split")).epoch() == 1);
  // Only --resume: every other flag comes back from the run's config.json.
  REQUIRE(pretrain_command({"--resume", d.out("v2_split")}) == 0);
  check_same_checkpoint(d.out("v2_straight"), d.out("v2_split"));
  CHECK(column(d.out("v2_straight"), "loss") == column(d.out("v2_split"), "loss"));
  {  // config.json keeps the command that started the run and notes the resume
    std::ifstream f(d.out("v2_split") + "/config.json");
    std::string cfg((std::istreambuf_iterator<char>(f)), {});
    CHECK(cfg.find("\"command\": \"moco pretrain --dataset mnist") != std::string::npos);
    CHECK(cfg.find("\"resumed_with\": \"moco pretrain --resume") != std::string::npos);
    CHECK(config_flag(d.out("v2_split"), "moco-k") == "64");
  }
  CHECK(column(d.out("v2_split"), "epoch") == std::vector<double>{1, 2});
  // The checkpoint holds the queue and the key encoder.
  Checkpoint c = load_checkpoint(d.out("v2_split"));
  CHECK(nn::find_tensor(c.model, "queue").shape() == Shape{128, 64});
  CHECK(nn::find_tensor(c.model, "queue_ptr").item() == 0);  // 4 steps of 16 keys wrapped a queue of 64
  CHECK_NOTHROW(nn::find_tensor(c.model, "encoder_k.conv1.weight"));
  CHECK_NOTHROW(nn::find_tensor(c.model, "shuffle_generator"));
  CHECK(!c.optimizer.empty());
}

TEST_CASE("pretrain v3 (ViT, per-iteration lr and momentum schedules): resume is bit-exact") {
  const auto& d = tiny();
  REQUIRE(pretrain_command(d.args(plus(kV3, {"--out", d.out("v3_straight"), "--knn-every", "0"}))) == 0);
  REQUIRE(pretrain_command(d.args(plus(kV3, {"--out", d.out("v3_split"), "--knn-every", "0", "--stop-after", "1"}))) ==
          0);
  REQUIRE(pretrain_command({"--resume", d.out("v3_split") + "/checkpoint.safetensors"}) == 0);
  check_same_checkpoint(d.out("v3_straight"), d.out("v3_split"));
  CHECK(column(d.out("v3_straight"), "moco_m") == column(d.out("v3_split"), "moco_m"));
}

TEST_CASE("train: resume is bit-exact; a NaN loss stops with the step and keeps the last good checkpoint") {
  const auto& d = tiny();
  const std::vector<std::string> base = {"--arch", "resnet18", "--width", "4", "--batch-size", "16", "--epochs", "2",
                                         "--lr", "0.05"};
  REQUIRE(supervised_command(SupervisedMode::train, d.args(plus(base, {"--out", d.out("sup_straight")}))) == 0);
  REQUIRE(supervised_command(SupervisedMode::train,
                             d.args(plus(base, {"--out", d.out("sup_split"), "--stop-after", "1"}))) == 0);
  REQUIRE(supervised_command(SupervisedMode::train, {"--resume", d.out("sup_split")}) == 0);
  check_same_checkpoint(d.out("sup_straight"), d.out("sup_split"));
  CHECK(column(d.out("sup_straight"), "val_top1") == column(d.out("sup_split"), "val_top1"));

  // Epoch 1 fine, then a learning rate that blows the weights up in epoch 2.
  REQUIRE(supervised_command(SupervisedMode::train,
                             d.args(plus(base, {"--out", d.out("nan"), "--stop-after", "1"}))) == 0);
  CHECK_THROWS_CONTAINS(supervised_command(SupervisedMode::train, {"--resume", d.out("nan"), "--lr", "1e30"}),
                        "at epoch 2, step");
  CHECK_THROWS_CONTAINS(supervised_command(SupervisedMode::train, {"--resume", d.out("nan"), "--lr", "1e30"}),
                        "The last good checkpoint is");
  Checkpoint c = load_checkpoint(d.out("nan"));
  CHECK(c.epoch() == 1);
  for (auto& [n, t] : c.model)
    if (is_floating(t.dtype())) CHECK(std::isfinite(sum(abs(t.to(DType::f64))).item()));
  CHECK(RunDir(d.out("nan")).read_metrics().size() == 1);

  // NaN in the first epoch: nothing to fall back on, and the message says so.
  CHECK_THROWS_CONTAINS(
      supervised_command(SupervisedMode::train, d.args(plus(base, {"--out", d.out("nan0"), "--lr", "1e30"}))),
      "This run has no checkpoint yet");
  CHECK_FALSE(fs::exists(d.out("nan0") + "/checkpoint.safetensors"));
}

TEST_CASE("pretrain: a NaN loss names the step") {
  const auto& d = tiny();
  CHECK_THROWS_CONTAINS(
      pretrain_command(d.args(plus(kV2, {"--out", d.out("pre_nan"), "--lr", "1e30", "--knn-every", "0"}))),
      "the loss became");
}

TEST_CASE("linear: only fc learns, BN stays frozen, the backbone is unchanged; finetune and knn read checkpoints") {
  const auto& d = tiny();
  REQUIRE(pretrain_command(d.args(plus(kV2, {"--out", d.out("pre"), "--epochs", "1", "--knn-every", "0"}))) == 0);
  Pretrained p = load_pretrained(d.out("pre"));
  CHECK(p.has_spec());
  for (auto& [n, t] : p.backbone) {
    INFO(n);
    CHECK(n.rfind("encoder", 0) != 0);
    CHECK(n.rfind("fc.", 0) != 0);
  }
  // --arch and --width come from the checkpoint.
  REQUIRE(supervised_command(SupervisedMode::linear, d.args({"--pretrained", d.out("pre"), "--epochs", "2",
                                                             "--batch-size", "16", "--out", d.out("lin")})) == 0);
  Checkpoint lin = load_checkpoint(d.out("lin"));
  Checkpoint pre = load_checkpoint(d.out("pre"));
  for (auto& [n, t] : lin.model) {
    if (n.rfind("fc.", 0) == 0) continue;
    INFO(n);
    CHECK_CLOSE(t, nn::find_tensor(pre.model, "encoder_q." + n), 0.0, 0.0);  // includes BN running stats
  }
  for (auto& [n, t] : lin.optimizer) CHECK(n.rfind("state.2.", 0) != 0);  // fc.weight and fc.bias only

  REQUIRE(supervised_command(SupervisedMode::finetune, d.args({"--pretrained", d.out("pre"), "--epochs", "1",
                                                               "--batch-size", "16", "--out", d.out("ft")})) == 0);
  CHECK(column(d.out("ft"), "val_top1").size() == 1);
  CHECK_THROWS_CONTAINS(supervised_command(SupervisedMode::finetune, d.args({"--epochs", "1"})),
                        "needs --pretrained");
  CHECK(knn_command(d.args({"--pretrained", d.out("ft"), "--knn-k", "10"})) == 0);
}

TEST_CASE("supervised training learns the toy task") {
  const auto& d = tiny();
  REQUIRE(supervised_command(SupervisedMode::train,
                             d.args({"--arch", "resnet18", "--width", "8", "--batch-size", "16", "--epochs", "6",
                                     "--lr", "0.05", "--crop-min", "0.8", "--out", d.out("learn")})) == 0);
  std::vector<double> acc = column(d.out("learn"), "val_top1");
  REQUIRE(acc.size() == 6);
  CHECK(*std::max_element(acc.begin(), acc.end()) >= 60.0);  // chance is 25%
}

TEST_CASE("clear errors: --device cuda without CUDA, a queue that is not a multiple of the batch, bad flags") {
  const auto& d = tiny();
#ifndef MOCO_WITH_CUDA
  CHECK_THROWS_CONTAINS(supervised_command(SupervisedMode::train, d.args({"--device", "cuda", "--out", d.out("cu")})),
                        "built without CUDA");
  CHECK_FALSE(fs::exists(d.out("cu")));
#endif
  CHECK_THROWS_CONTAINS(pretrain_command(d.args(plus(kV2, {"--moco-k", "40", "--out", d.out("k")}))),
                        "must be a multiple");
  CHECK_THROWS_CONTAINS(pretrain_command(d.args({"--moco-version", "v4"})), "--moco-version must be v1, v2 or v3");
  CHECK_THROWS_CONTAINS(supervised_command(SupervisedMode::train, d.args({"--arch", "resnet19"})), "unknown --arch");
  CHECK_THROWS_CONTAINS(supervised_command(SupervisedMode::train, d.args({"--classes", "0,12", "--out", d.out("c")})),
                        "class 12 not in");
  CHECK_THROWS_CONTAINS(supervised_command(SupervisedMode::train, d.args({"--classes", "0,9", "--out", d.out("c")})),
                        "class 9 has no training images");
  CHECK_THROWS_CONTAINS(pretrain_command({"--resume", d.out("nowhere")}), "no checkpoint at");
}

TEST_CASE("pretrain --recipe cifar-demo: the CIFAR-10 notebook's values, augmentation, lr epochs and stem") {
  const auto& d = tiny();
  const std::string out = d.out("demo");
  REQUIRE(pretrain_command(d.args({"--moco-version", "v1", "--recipe", "cifar-demo", "--width", "4", "--batch-size",
                                   "16", "--moco-k", "64", "--epochs", "2", "--knn-k", "10", "--out", out})) == 0);
  for (auto [flag, value] : std::vector<std::pair<std::string, std::string>>{
           {"moco-t", "0.1"}, {"moco-m", "0.99"}, {"bn-splits", "8"}, {"lr", "0.06"}, {"wd", "0.0005"},
           {"crop-min", "0.08"}, {"cos", "1"}, {"mlp", "0"}, {"aug-plus", "0"}, {"knn-features", "head"}})
    CHECK_MESSAGE(config_flag(out, flag) == value, flag);
  // Epochs counted from 1 as the notebook: lr 0.06 * (1 + cos(pi * e / 2)) / 2 for e = 1, 2.
  std::vector<double> lr = column(out, "lr");
  REQUIRE(lr.size() == 2);
  CHECK(lr[0] == doctest::Approx(0.03));
  CHECK(lr[1] == doctest::Approx(0.0).scale(1));
  Checkpoint c = load_checkpoint(out);
  CHECK(c.meta.at("stem_default_init") == "1");
  CHECK_THROWS_AS(pretrain_command(d.args({"--recipe", "cifar-demo", "--moco-version", "v3", "--out", d.out("demo3")})),
                  UsageError);
  CHECK_THROWS_CONTAINS(pretrain_command(d.args({"--recipe", "demo", "--out", d.out("demo4")})),
                        "--recipe must be official or cifar-demo, got 'demo'");
}

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
  const nlohmann::json j = nlohmann::json::parse(sj);
  REQUIRE(j.contains("seeds"));
  CHECK(j.at("seeds") == 2);
  CHECK(j.at("preset") == "quick");
  REQUIRE(j.contains("models"));
  const nlohmann::json& models = j.at("models");
  for (const char* name : {"resnet", "moco_resnet", "vit", "moco_vit"}) {
    INFO(name);
    REQUIRE(models.contains(name));
    const nlohmann::json& m = models.at(name);
    CHECK(m.at("seeds") == 2);
    CHECK(m.at("steps") == 4);  // 2 epochs x 2 steps
    for (const char* key : {"best_top1_mean", "best_top1_std", "final_top1_mean", "smoothness_mean"}) {
      INFO(key);
      REQUIRE(m.contains(key));
      CHECK(m.at(key).is_number());
    }
    const bool moco = std::string(name).rfind("moco_", 0) == 0;
    CHECK(m.at("knn_mean").is_number() == moco);
    CHECK(m.at("knn_init_mean").is_number() == moco);
    CHECK(m.at("pretrain_steps").is_number_integer() == moco);
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
    CHECK(models.at("vit").at("best_top1_mean").get<double>() ==
          doctest::Approx((best[0] + best[1]) / 2).epsilon(1e-3));
  }
  REQUIRE(j.contains("verdicts"));
  for (const char* key : {"moco_resnet_vs_resnet", "moco_vit_vs_vit", "smoothness"}) {
    INFO(key);
    REQUIRE(j.at("verdicts").contains(key));
    const nlohmann::json& v = j.at("verdicts").at(key);
    REQUIRE(v.contains("ci95"));
    CHECK(v.at("ci95").size() == 2);
    const std::string verdict = v.at("verdict");
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

TEST_CASE("compare: smoothness is the mean absolute epoch-to-epoch change") {
  CHECK(mean_abs_change({}) == 0);
  CHECK(mean_abs_change({50}) == 0);
  CHECK(mean_abs_change({50, 60, 55}) == doctest::Approx(7.5));
}

TEST_CASE("pretrain --log-every: steps.jsonl / steps.csv with every internal, epoch means, resume drops later steps") {
  const auto& d = tiny();
  const std::vector<std::string> names = {
      "step",          "epoch",       "loss",      "loss_chance", "inst_top1",      "logit_pos_mean",
      "logit_neg_mean", "logit_neg_std", "logit_neg_max", "encoder_drift", "feature_std", "alignment",
      "uniformity",    "queue_age_mean", "queue_sim_mean", "lr", "moco_m", "grad_norm"};
  const std::string run = d.out("log_v2");
  REQUIRE(pretrain_command(d.args(plus(kV2, {"--out", run, "--knn-every", "0", "--log-every", "1"}))) == 0);
  std::vector<MetricsRow> steps = RunDir(run).read_rows("steps");
  REQUIRE(steps.size() == 8);  // 64 images / 16 = 4 steps per epoch, 2 epochs
  for (size_t i = 0; i < steps.size(); ++i) {
    INFO("step row " << i);
    for (const std::string& n : names) {
      INFO(n);
      CHECK(find_value(steps[i], n).has_value());
    }
    CHECK(*find_value(steps[i], "step") == double(i + 1));
    CHECK(*find_value(steps[i], "epoch") == doctest::Approx(double(i + 1) / 4));
    CHECK(*find_value(steps[i], "loss_chance") == doctest::Approx(std::log(65.0)));  // K 64
    // 16 of 64 slots written per step: ages 0,1,1,1 -> 0,1,2,2 -> 0,1,2,3 (x16), then a full ring.
    CHECK(*find_value(steps[i], "queue_age_mean") == doctest::Approx(i == 0 ? 0.75 : i == 1 ? 1.25 : 1.5));
  }
  {  // the CSV header holds every name, in the order
    std::ifstream f(run + "/steps.csv");
    std::string header;
    std::getline(f, header);
    std::string want;
    for (auto& n : names) want += (want.empty() ? "" : ",") + n;
    CHECK(header == want);
  }
  // Epoch rows: the same names where they apply; kNN was off, so it is absent (not -1).
  std::vector<MetricsRow> epochs = RunDir(run).read_metrics();
  REQUIRE(epochs.size() == 2);
  CHECK_FALSE(find_value(epochs[0], "knn_top1").has_value());
  double drift_mean = 0;
  for (int i = 4; i < 8; ++i) drift_mean += *find_value(steps[size_t(i)], "encoder_drift") / 4;
  CHECK(*find_value(epochs[1], "encoder_drift") == doctest::Approx(drift_mean));
  CHECK(*find_value(epochs[1], "step") == 8);
  CHECK(*find_value(epochs[1], "loss_chance") == doctest::Approx(std::log(65.0)));
  // plots.png (when gnuplot is there) and report.md with the commands to continue and evaluate.
  if (std::system("command -v gnuplot > /dev/null 2>&1") == 0) CHECK(fs::is_regular_file(run + "/plots.png"));
  std::ifstream rf(run + "/report.md");
  std::string report((std::istreambuf_iterator<char>(rf)), {});
  CHECK(report.find("moco pretrain --resume " + run + " --epochs 4") != std::string::npos);
  CHECK(report.find("moco knn --pretrained " + run + " --dataset mnist --data ") != std::string::npos);
  CHECK(report.find("moco linear --pretrained " + run) != std::string::npos);
  CHECK(report.find("moco finetune --pretrained " + run) != std::string::npos);
  CHECK(report.find("| moco-k | `64` |") != std::string::npos);
  CHECK(report.find("`loss_chance` | 4.1744 |") != std::string::npos);  // ln 65

  // A run stopped after epoch 1 went on to epoch 2, then its checkpoint was
  // replaced by the epoch-1 one (as after a crash before the next save): the
  // resumed run drops steps 5..8 and writes them again, once, with the same values.
  const std::string split = d.out("log_v2_split");
  REQUIRE(pretrain_command(d.args(plus(kV2, {"--out", split, "--knn-every", "0", "--log-every", "1", "--stop-after",
                                             "1"}))) == 0);
  fs::copy_file(split + "/checkpoint.safetensors", d.out("log_v2_epoch1.safetensors"));
  REQUIRE(pretrain_command({"--resume", split}) == 0);
  fs::copy_file(d.out("log_v2_epoch1.safetensors"), split + "/checkpoint.safetensors",
                fs::copy_options::overwrite_existing);
  {
    std::ifstream rf2(split + "/report.md");
    std::string r2((std::istreambuf_iterator<char>(rf2)), {});
    CHECK(r2.find("2 of 2 epochs done") != std::string::npos);
  }
  REQUIRE(pretrain_command({"--resume", split}) == 0);
  std::vector<MetricsRow> again = RunDir(split).read_rows("steps");
  REQUIRE(again.size() == 8);
  for (size_t i = 0; i < again.size(); ++i) {
    INFO("step row " << i);
    for (const std::string& n : names) CHECK(*find_value(again[i], n) == *find_value(steps[i], n));
  }
}

TEST_CASE("pretrain v3 --log-every: no queue columns, chance 2 x 2T ln(B); --log-every 0 writes no step log") {
  const auto& d = tiny();
  const std::string run = d.out("log_v3");
  REQUIRE(pretrain_command(d.args(plus(kV3, {"--out", run, "--knn-every", "0", "--log-every", "2", "--epochs", "1",
                                             "--warmup-epochs", "0"}))) == 0);
  std::vector<MetricsRow> steps = RunDir(run).read_rows("steps");
  REQUIRE(steps.size() == 2);  // steps 2 and 4
  CHECK(*find_value(steps[1], "step") == 4);
  CHECK_FALSE(find_value(steps[0], "queue_age_mean").has_value());
  CHECK_FALSE(find_value(steps[0], "queue_sim_mean").has_value());
  CHECK(*find_value(steps[0], "loss_chance") == doctest::Approx(2 * 2 * 0.2 * std::log(16.0)));  // ViT: T 0.2, B 16
  CHECK(find_value(steps[0], "logit_neg_max").has_value());
  std::ifstream f(run + "/steps.csv");
  std::string header, row;
  std::getline(f, header);
  std::getline(f, row);
  CHECK(header.find("queue_age_mean,queue_sim_mean") != std::string::npos);
  CHECK(row.find(",,") != std::string::npos);  // the two empty queue cells

  const std::string off = d.out("log_off");
  REQUIRE(pretrain_command(d.args(plus(kV2, {"--out", off, "--knn-every", "0", "--log-every", "0", "--epochs", "1"}))) ==
          0);
  CHECK_FALSE(fs::exists(off + "/steps.jsonl"));
  CHECK(RunDir(off).read_metrics().size() == 1);
}

TEST_CASE("pretrain --resume keeps a preset switch the run turned off (--mlp=0 with v2)") {
  const auto& d = tiny();
  const std::string run = d.out("v2_no_mlp");
  REQUIRE(pretrain_command(d.args(plus(kV2, {"--out", run, "--knn-every", "0", "--mlp=0", "--stop-after", "1"}))) == 0);
  REQUIRE(pretrain_command({"--resume", run}) == 0);
  Checkpoint c = load_checkpoint(run);
  CHECK(c.epoch() == 2);
  CHECK_NOTHROW(nn::find_tensor(c.model, "encoder_q.fc.weight"));  // v1's linear head, not the MLP's fc.0 / fc.2
}
