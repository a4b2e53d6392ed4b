// `moco bench` (tools/bench_step.h): the invocations parse to the
// reference's configuration, the MoCo steps run at a tiny size and give the
// JSON line bench/moco_step_bench.sh reads, and bad flags fail clearly.
#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/models/resnet.h"
#include "nn/models/vit.h"
#include "test_util.h"
#include "tools/bench_step.h"

using namespace moco;
using namespace moco::cli;

namespace {

// The value of `key` in a JSON line, as JSON text ("" when absent).
std::string raw(const std::string& json, const std::string& key) {
  const nlohmann::json j = nlohmann::json::parse(json);
  return j.contains(key) ? j.at(key).dump() : "";
}

double number(const std::string& json, const std::string& key) {
  const nlohmann::json j = nlohmann::json::parse(json);
  INFO("key " << key << " in " << json);
  REQUIRE(j.contains(key));
  REQUIRE(j.at(key).is_number());
  return j.at(key).get<double>();
}

std::vector<double> numbers(const std::string& json, const std::string& key) {
  const nlohmann::json j = nlohmann::json::parse(json);
  INFO("key " << key << " in " << json);
  REQUIRE(j.contains(key));
  REQUIRE(j.at(key).is_array());
  return j.at(key).get<std::vector<double>>();
}

BenchResult bench(const std::vector<std::string>& argv) {
  std::optional<BenchOptions> o = parse_bench_flags(argv);
  REQUIRE(o.has_value());
  return run_bench(*o, false);
}

void check_line(const BenchResult& r, const std::string& method, const std::string& arch, int64_t steps) {
  const std::string j = r.json();
  INFO(j);
  CHECK(raw(j, "method") == "\"" + method + "\"");
  CHECK(raw(j, "arch") == "\"" + arch + "\"");
  const double ips = number(j, "images_per_sec"), sec = number(j, "sec_per_step");
  CHECK(std::isfinite(ips));
  CHECK(ips > 0);
  CHECK(sec > 0);
  CHECK(ips == doctest::Approx(r.images_per_sec()).epsilon(0.01));
  CHECK(r.images_per_sec() * r.sec_per_step() == doctest::Approx(double(r.opt.batch)));
  CHECK(number(j, "peak_rss_mib") > 0);
  CHECK(number(j, "batch") == double(r.opt.batch));
  CHECK(number(j, "image_size") == double(r.opt.size));
  CHECK(number(j, "threads") >= 1);
  CHECK(numbers(j, "step_times").size() == size_t(steps));
  const std::vector<double> losses = numbers(j, "losses");
  CHECK(losses.size() == size_t(r.opt.warmup + steps));
  for (double l : losses) {
    CHECK(std::isfinite(l));
    CHECK(l > 0);  // InfoNCE with negatives is never 0
  }
}

}  // namespace

TEST_CASE("bench: the issue's invocations resolve to the reference's configuration") {
  std::optional<BenchOptions> v2 =
      parse_bench_flags({"--method", "mocov2", "--arch", "resnet18", "--image-size", "32", "--batch-size", "256"});
  REQUIRE(v2.has_value());
  CHECK(v2->method == "mocov2");
  CHECK(v2->arch == "resnet18");
  CHECK(v2->size == 32);
  CHECK(v2->batch == 256);
  CHECK(v2->width == 64);
  CHECK(v2->moco_k == 4096);
  CHECK(v2->bn_splits == 1);

  std::optional<BenchOptions> v3 = parse_bench_flags({"--method", "mocov3", "--arch", "vit_tiny"});
  REQUIRE(v3.has_value());
  CHECK(v3->arch == "vit_tiny");
  CHECK(v3->batch == 64);
  CHECK(v3->size == 32);
  CHECK(v3->patch == 4);
  CHECK(v3->dim == 192);
  CHECK(v3->depth == 12);
  CHECK(v3->heads == 3);
  CHECK(v3->mlp_dim == 4096);
  // mocov3 alone picks the ViT; sup keeps its ResNet default.
  CHECK(parse_bench_flags({"--method", "mocov3"})->arch == "vit_tiny");
  CHECK(parse_bench_flags({})->arch == "resnet18");
  CHECK(parse_bench_flags({})->method == "sup");
  // tools/gpu-check.sh's spelling: method and arch in one --model.
  std::optional<BenchOptions> joined = parse_bench_flags({"--model", "mocov3_vit_tiny"});
  CHECK(joined->method == "mocov3");
  CHECK(joined->arch == "vit_tiny");
  CHECK_THROWS_CONTAINS(parse_bench_flags({"--model", "mocov2_resnet18", "--method", "sup"}), "contradicts");
  // The older spellings still work.
  std::optional<BenchOptions> old = parse_bench_flags({"--model", "resnet34", "--batch", "32", "--size", "24"});
  CHECK(old->arch == "resnet34");
  CHECK(old->batch == 32);
  CHECK(old->size == 24);
}

TEST_CASE("bench mocov2 at a tiny size: finite rate and losses; only the query encoder and its MLP head train") {
  BenchResult r = bench({"--method", "mocov2", "--arch", "resnet18", "--width", "8", "--image-size", "16",
                         "--batch-size", "8", "--moco-k", "64", "--bn-splits", "2", "--warmup", "1", "--steps", "2",
                         "--threads", "2", "--json"});
  check_line(r, "mocov2", "resnet18", 2);
  CHECK(number(r.json(), "bn_splits") == 2);
  nn::ResNetConfig rc;
  rc.small_stem = true;
  rc.width = 8;
  rc.num_classes = 0;
  nn::ResNet backbone(rc);
  const int64_t d = backbone.feature_dim();  // 64
  CHECK(r.trainable_params == backbone.num_parameters(true) + (d * d + d) + (d * 128 + 128));
}

TEST_CASE("bench --log-every: logged steps alternate with plain ones; the overhead is internals / (N x plain step)") {
  BenchResult r = bench({"--method", "mocov2", "--arch", "resnet18", "--width", "4", "--image-size", "16",
                         "--batch-size", "8", "--moco-k", "64", "--warmup", "1", "--steps", "4", "--threads", "1",
                         "--log-every", "20", "--json"});
  check_line(r, "mocov2", "resnet18", 4);
  REQUIRE(r.plain_step_sec.size() == 2);
  REQUIRE(r.logged_step_sec.size() == 2);
  REQUIRE(r.internals_sec.size() == 2);
  for (double t : r.internals_sec) CHECK(t > 0);
  const double median_plain = 0.5 * (r.plain_step_sec[0] + r.plain_step_sec[1]);
  const double median_int = 0.5 * (r.internals_sec[0] + r.internals_sec[1]);
  CHECK(r.internals_overhead() == doctest::Approx(median_int / (20 * median_plain)));
  const std::string j = r.json();
  CHECK(number(j, "log_every") == 20);
  CHECK(number(j, "internals_overhead") == doctest::Approx(r.internals_overhead()).epsilon(1e-3));
  CHECK(numbers(j, "internals_times").size() == 2);
  // The logged steps' own times leave the internals out.
  for (size_t i = 0; i < 2; ++i) CHECK(r.step_sec[2 * i + 1] == doctest::Approx(r.logged_step_sec[i] - r.internals_sec[i]));
  CHECK_THROWS_CONTAINS(parse_bench_flags({"--method", "sup", "--log-every", "20"}), "needs --method mocov2 or mocov3");
}

TEST_CASE("bench mocov3 at a tiny size: finite rate and losses; frozen patch projection, bias-free MLPs") {
  BenchResult r = bench({"--method", "mocov3", "--arch", "vit_tiny", "--dim", "32", "--depth", "1", "--heads", "2",
                         "--mlp-dim", "64", "--image-size", "16", "--batch-size", "8", "--warmup", "1", "--steps",
                         "1", "--threads", "2", "--json"});
  check_line(r, "mocov3", "vit_tiny", 1);
  CHECK(number(r.json(), "depth") == 1);
  nn::ViTConfig vc;
  vc.img_size = 16;
  vc.patch_size = 4;
  vc.embed_dim = 32;
  vc.depth = 1;
  vc.num_heads = 2;
  vc.num_classes = 0;
  vc.stop_grad_conv1 = true;
  nn::VisionTransformer vit(vc);
  const int64_t h = 64, out = 256;
  const int64_t projector = 32 * h + 2 * h + h * h + 2 * h + h * out;  // last BN without affine
  const int64_t predictor = out * h + 2 * h + h * out;                 // no last BN
  CHECK(r.trainable_params == vit.num_parameters(true) + projector + predictor);
}

TEST_CASE("bench sup still times a supervised step") {
  BenchResult r = bench({"--arch", "resnet18", "--width", "8", "--size", "16", "--batch", "4", "--warmup", "0",
                         "--steps", "1", "--threads", "1"});
  const std::string j = r.json();
  CHECK(raw(j, "method") == "\"sup\"");
  CHECK(std::isfinite(number(j, "images_per_sec")));
  CHECK(numbers(j, "losses").size() == 1);
}

TEST_CASE("bench: bad flags fail with a clear message") {
  CHECK_THROWS_CONTAINS(parse_bench_flags({"--method", "mocov4"}), "unknown --method 'mocov4'");
  CHECK_THROWS_CONTAINS(parse_bench_flags({"--method", "mocov3", "--arch", "resnet18"}),
                        "--arch must be vit_tiny, vit_small or vit_base");
  CHECK_THROWS_CONTAINS(parse_bench_flags({"--method", "mocov2", "--arch", "vit_tiny"}),
                        "--arch must be resnet18, resnet34 or resnet50");
  CHECK_THROWS_CONTAINS(parse_bench_flags({"--method", "mocov2", "--batch-size", "48"}),
                        "must be a multiple of --batch-size 48");
  CHECK_THROWS_CONTAINS(parse_bench_flags({"--method", "mocov2", "--batch-size", "64", "--bn-splits", "3"}),
                        "multiple of --bn-splits 3");
  CHECK_THROWS_CONTAINS(parse_bench_flags({"--arch", "resnet19"}), "unknown --arch 'resnet19'");
  CHECK_THROWS_CONTAINS(parse_bench_flags({"--method", "mocov3", "--image-size", "30"}), "not a multiple of --patch");
  CHECK_THROWS_CONTAINS(parse_bench_flags({"--method", "mocov3", "--heads", "5"}), "not a multiple of --heads 5");
  CHECK_THROWS_CONTAINS(parse_bench_flags({"--method", "mocov3", "--batch-size", "1"}), "needs --batch-size >= 2");
  CHECK_THROWS_CONTAINS(parse_bench_flags({"--batch-size", "0"}), "out of range");
  CHECK_THROWS_CONTAINS(parse_bench_flags({"--bn-split", "2"}), "unknown option --bn-split");
  CHECK_THROWS_CONTAINS(bench_command({"--method", "v2"}), "unknown --method");
#ifndef MOCO_WITH_CUDA
  CHECK_THROWS_CONTAINS(parse_bench_flags({"--method", "mocov2", "--device", "cuda"}), "built without CUDA");
#endif
}
