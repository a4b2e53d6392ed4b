// The library pieces the commands build on, without a command line: the
// model spec's auto sizes and checks, config.json's record of a run, the
// command line it keeps, the step benchmark's option checks and the
// spirals demo.
#include <doctest/doctest.h>

#include "tensor/error.h"
#include "train/model_spec.h"
#include "train/run_setup.h"
#include "train/spirals_demo.h"
#include "train/step_bench.h"

using namespace moco;
using namespace moco::train;

TEST_CASE("resolve_model_spec: the arch's sizes for 0, the stem and patch by image size, clear errors") {
  const ModelSpec vit = resolve_model_spec("vit_small", {}, 224, 3, 10);
  CHECK(vit.patch == 16);
  CHECK(vit.depth == 12);
  CHECK(vit.dim == 384);
  CHECK(vit.heads == 12);
  CHECK(resolve_model_spec("vit_tiny", {}, 32, 3, 0).patch == 4);
  ModelSizes z;
  z.dim = 32;
  z.heads = 2;
  z.depth = 1;
  const ModelSpec small = resolve_model_spec("vit_tiny", z, 28, 1, 0);
  CHECK(small.dim == 32);
  CHECK(small.depth == 1);
  CHECK(small.in_chans == 1);
  CHECK(resolve_model_spec("resnet18", {}, 32, 3, 10).small_stem);
  CHECK_FALSE(resolve_model_spec("resnet18", {}, 96, 3, 10).small_stem);
  z = {};
  z.stem = "small";
  CHECK(resolve_model_spec("resnet50", z, 224, 3, 10).small_stem);
  CHECK_THROWS_WITH_AS(resolve_model_spec("resnet99", {}, 32, 3, 10), doctest::Contains("unknown --arch 'resnet99'"),
                       Error);
  z.stem = "big";
  CHECK_THROWS_WITH_AS(resolve_model_spec("resnet18", z, 32, 3, 10), doctest::Contains("--stem"), Error);
  z = {};
  z.patch = 5;
  CHECK_THROWS_WITH_AS(resolve_model_spec("vit_tiny", z, 32, 3, 10),
                       doctest::Contains("--image-size 32 is not a multiple of --patch-size 5"), Error);
}

TEST_CASE("make_run_config: flags apart from the machine's, switches marked, the command line quoted") {
  const std::map<std::string, std::string> values = {
      {"epochs", "3"}, {"mlp", "1"}, {"threads", "2"}, {"device", "cpu"}, {"overwrite", "1"}, {"classes", "0, 1"}};
  const RunConfig c = make_run_config(values, {"mlp", "overwrite"}, 2, "pretrain", {"--classes", "0, 1"}, "");
  CHECK(c.flags.count("threads") == 0);
  CHECK(c.flags.count("device") == 0);
  CHECK(c.flags.count("overwrite") == 0);
  CHECK(c.flags.at("epochs") == "3");
  CHECK(c.switches == std::set<std::string>{"mlp"});
  CHECK(c.machine.at("threads") == "2");
  CHECK(c.machine.at("device") == "cpu");
  CHECK(c.command == "moco pretrain --classes '0, 1'");
  CHECK(c.resumed_with.empty());
  const RunConfig r = make_run_config(values, {}, 0, "pretrain", {"--resume", "run"}, "moco pretrain --epochs 3");
  CHECK(r.command == "moco pretrain --epochs 3");
  CHECK(r.resumed_with == "moco pretrain --resume run");
  CHECK(command_line("train", {"it's"}) == "moco train 'it'\\''s'");
}

TEST_CASE("never_taken_back: where a run writes, how it started and when it stops stay this invocation's") {
  for (const char* k : {"out", "resume", "config", "stop-after", "overwrite", "dist-backend"}) CHECK(never_taken_back(k));
  for (const char* k : {"epochs", "lr", "threads", "device"}) CHECK_FALSE(never_taken_back(k));
}

TEST_CASE("step benchmark options: model names resolved, contradictions refused") {
  BenchOptions o;
  o.method = "sup";
  o.arch = "mocov2_resnet18";
  resolve_bench_model(o, false);
  CHECK(o.method == "mocov2");
  CHECK(o.arch == "resnet18");
  o = {};
  o.method = "mocov3";
  o.arch = "auto";
  resolve_bench_model(o, true);
  CHECK(o.arch == "vit_tiny");
  check_bench_options(o);
  CHECK(o.dim == 192);
  CHECK(o.heads == 3);
  o = {};
  o.method = "sup";
  o.arch = "mocov3_vit_tiny";
  CHECK_THROWS_WITH_AS(resolve_bench_model(o, true), doctest::Contains("contradicts --method sup"), Error);
  o = {};
  o.method = "mocov2";
  o.arch = "resnet18";
  o.moco_k = 100;
  CHECK_THROWS_WITH_AS(check_bench_options(o), doctest::Contains("must be a multiple of --batch-size 64"), Error);
}

TEST_CASE("spirals demo: the loss goes down, reported every tenth step and at the last") {
  SpiralsDemo o;
  o.steps = 30;
  o.samples = 64;
  std::vector<int64_t> seen;
  const auto [first, last] = train_spirals(o, [&](const SpiralsStep& s) { seen.push_back(s.step); });
  CHECK(last < first);
  CHECK(seen == std::vector<int64_t>{0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 29});
}
