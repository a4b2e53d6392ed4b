// The library's reading of the commands' flags (train/flags.h and the
// *_flags.h files): typed values and where they came from, the "auto" values
// of `moco pretrain` and of the supervised commands filled from the recipes,
// and the recipes the resolved flags describe. These were tested only
// through the command line before they moved out of tools/.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "data/io.h"
#include "data/fixture.h"
#include "train/flags.h"
#include "train/pretrain_flags.h"
#include "train/supervised_flags.h"

using namespace moco;
using namespace moco::train;
using moco::testing::TempDir;

namespace {

// A folder data set of 2 classes, 40 tiny images each (the recipes read its image size).
std::string tiny_folder(const TempDir& t) {
  const std::string dir = t / "f";
  for (const char* c : {"a", "b"}) {
    std::filesystem::create_directories(dir + "/" + c);
    for (int i = 0; i < 40; ++i) data::write_png(dir + "/" + c + "/" + std::to_string(i) + ".png", data::Image(8, 8, 3));
  }
  return dir;
}

// The flags resolve_* read, with the commands' defaults.
Flags common_flags(const std::string& folder) {
  Flags f;
  for (auto [n, v] : std::vector<std::pair<const char*, const char*>>{
           {"dataset", "folder"}, {"classes", ""}, {"image-size", "0"}, {"channels", "0"}, {"workers", "0"},
           {"seed", "0"}, {"arch", "resnet18"}, {"width", "4"}, {"stem", "auto"}, {"resume", ""},
           {"momentum", "0.9"}, {"schedule", ""}, {"check-sync-every", "0"}})
    f.declare(n, v);
  f.declare("data", folder);
  f.declare("sync-bn", "0", true);
  f.declare("cos", "0", true);
  return f;
}

Flags pretrain_flags(const std::string& folder) {
  Flags f = common_flags(folder);
  for (auto n : {"moco-dim", "moco-k", "moco-m", "moco-t", "moco-mlp-dim", "bn-splits", "optimizer", "lr", "wd",
                 "batch-size", "epochs", "warmup-epochs", "crop-min"})
    f.declare(n, "auto");
  for (auto n : {"mlp", "aug-plus", "moco-m-cos", "symmetric", "stop-grad-conv1"}) f.declare(n, "0", true);
  for (auto [n, v] : std::vector<std::pair<const char*, const char*>>{
           {"moco-version", "v2"}, {"recipe", "official"}, {"data-fraction", "1"}, {"knn-every", "0"},
           {"shuffle-bn", "1"}, {"knn-k", "200"}, {"knn-t", "0.1"}, {"knn-bank", "0"}, {"knn-test", "0"},
           {"knn-features", "backbone"}, {"log-every", "20"}})
    f.declare(n, v);
  f.set("schedule", "120,160");
  return f;
}

}  // namespace

TEST_CASE("Flags: typed values with range checks that name the flag, switches, and where a value came from") {
  Flags f;
  f.declare("lr", "0.03");
  f.declare("epochs", "x");
  f.declare("schedule", "120,160");
  f.declare("mlp", "0", true);
  CHECK(f.real("lr", 0) == doctest::Approx(0.03));
  CHECK_ERROR_HAS(f.real("lr", 1), "--lr = 0.03 is out of range");
  CHECK_ERROR_HAS(f.integer("epochs"), "--epochs expects an integer, got 'x'");
  CHECK(f.int_list("schedule") == std::vector<int64_t>{120, 160});
  CHECK_FALSE(f.on("mlp"));
  CHECK(f.is_switch("mlp"));
  f.give("mlp", "yes");
  CHECK(f.on("mlp"));
  CHECK(f.given("mlp"));
  f.set_from_run("lr", "0.06");
  CHECK(f.from_run("lr"));
  CHECK_FALSE(f.given("lr"));
  f.give("mlp", "maybe");
  CHECK_ERROR_HAS(f.on("mlp"), "a switch is 1/0");
  CHECK_ERROR_HAS(f.str("nope"), "--nope was never declared");
  CHECK(f.values().at("lr") == "0.06");
}

TEST_CASE("resolve_pretrain_flags: the recipe's auto values and switches; what the version does not read is said") {
  TempDir t;
  const std::string folder = tiny_folder(t);
  Flags f = pretrain_flags(folder);
  DataSetup d;
  CHECK(resolve_pretrain_flags(f, d).empty());
  CHECK(d.size == 8);
  // v2 on small images: the CIFAR-10 demo's sizes with v2's head, augmentation and cosine lr.
  CHECK(f.on("mlp"));
  CHECK(f.on("aug-plus"));
  CHECK(f.on("cos"));
  CHECK(f.str("moco-k") == "4096");
  CHECK(f.str("moco-t") == "0.2");
  CHECK(f.str("optimizer") == "sgd");
  f.set("batch-size", "16");
  const PretrainRecipe r = pretrain_recipe(f, d);
  CHECK(r.version == "v2");
  CHECK(r.mlp);
  CHECK(r.K == 4096);
  CHECK(r.batch_size == 16);
  f.set("batch-size", "1000");
  // 72: the folder has no val/, so 10% of each class is held out.
  CHECK_ERROR_HAS(pretrain_recipe(f, d), "--batch-size 1000 is larger than the 72 training images");

  // v3: a queue size given is warned of, not dropped silently; a switch a resumed run turned off stays off.
  Flags g = pretrain_flags(folder);
  g.set("moco-version", "v3");
  g.give("moco-k", "256");
  g.set_from_run("moco-m-cos", "0");
  const std::vector<std::string> w = resolve_pretrain_flags(g, d);
  REQUIRE(w.size() == 1);
  CHECK(w[0].find("--moco-k is ignored by --moco-version v3") != std::string::npos);
  CHECK_FALSE(g.on("moco-m-cos"));
  CHECK(g.str("optimizer") == "lars");
  g.set("batch-size", "32");
  g.set("epochs", "2");
  g.set("warmup-epochs", "2");
  CHECK_ERROR_HAS(pretrain_recipe(g, d), "--warmup-epochs 2 must be less than --epochs 2");
  g.set("warmup-epochs", "1");
  const PretrainRecipe r3 = pretrain_recipe(g, d);
  CHECK(r3.K == 0);
  CHECK(r3.optimizer.lr == doctest::Approx(0.6 * 32 / 256));  // v3's lr is per 256 images
  CHECK(pretrain_model_spec(g, d).zero_init_residual);

  Flags h = pretrain_flags(folder);
  h.set("moco-version", "v3");
  h.set("recipe", "cifar-demo");
  CHECK_ERROR_HAS(resolve_pretrain_flags(h, d), "--recipe cifar-demo is a MoCo v1/v2 recipe");
  h.set("moco-version", "v1");
  CHECK(resolve_pretrain_flags(h, d).empty());
  CHECK(h.str("knn-features") == "head");  // the demo monitors the head's output
  CHECK(pretrain_model_spec(h, d).stem_default_init);
}

TEST_CASE("resolve_supervised_flags: a batch larger than the data is cut first, then the lr follows it") {
  TempDir t;
  Flags f = common_flags(tiny_folder(t));
  for (auto [n, v] : std::vector<std::pair<const char*, const char*>>{
           {"label-fraction", "1"}, {"val-samples", "0"}, {"batch-size", "256"}, {"epochs", "3"},
           {"optimizer", "auto"}, {"lr", "auto"}, {"wd", "auto"}, {"warmup-epochs", "auto"}, {"crop-min", "auto"},
           {"eval-batch-size", "64"}, {"pretrained", ""}})
    f.declare(n, v);
  Pretrained pre;
  DataSetup d;
  CHECK_ERROR_HAS(resolve_supervised_flags(SupervisedMode::finetune, f, pre, d), "moco finetune needs --pretrained");
  const std::string note = resolve_supervised_flags(SupervisedMode::train, f, pre, d);
  CHECK(note.find("--batch-size 256 is larger than the 72 training images") != std::string::npos);
  CHECK(f.str("batch-size") == "72");
  CHECK(f.str("lr") == fmt::format("{:g}", 0.1 * 72 / 256));
  CHECK(f.on("cos"));  // no --schedule: cosine
  const SupervisedRecipe r = supervised_recipe(SupervisedMode::train, f);
  CHECK(r.batch_size == 72);
  CHECK(r.eval_batch_size == 64);
  CHECK(r.optimizer.kind == "sgd");
}
