// No run lost, no input trusted (issue 15): a run folder is written only once
// every flag and the checkpoint are checked, is never taken over by another
// run without --overwrite, has one writer at a time, keeps every epoch's row,
// and never holds or loads non-finite weights; checkpoints and switches that
// do not parse are refused with a message that names them.
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "nn/init.h"
#include "nn/safetensors.h"
#include "test_util.h"
#include "run_checks.h"
#include "tiny_data.h"
#include "tools/args.h"
#include "tools/cli_common.h"
#include "tools/pretrain.h"
#include "train/run_dir.h"
#include "train/stop_signal.h"
#include "tools/supervised.h"

using namespace moco;
using namespace moco::cli;
namespace fs = std::filesystem;
using namespace moco::test_data;

namespace {

const TinyData& tiny() {
  static TinyData d("safety");
  return d;
}

const std::vector<std::string> kPre = {"--moco-version", "v2", "--arch", "resnet18", "--width", "4", "--batch-size",
                                       "16", "--moco-k", "64", "--bn-splits", "2", "--epochs", "3", "--knn-every",
                                       "0", "--data-fraction", "0.5"};
const std::vector<std::string> kSup = {"--arch", "resnet18", "--width", "4", "--batch-size", "16", "--epochs", "2"};

}  // namespace

TEST_CASE("a failed --resume leaves config.json alone and names what the checkpoint holds") {
  const auto& d = tiny();
  const std::string r = d.out("resume_guard");
  REQUIRE(pretrain_command(d.args(plus(kPre, {"--out", r, "--stop-after", "1"}))) == 0);
  const std::string cfg = slurp(r + "/config.json");
  // Another command: refused before its flags are merged with the run's.
  CHECK_THROWS_AS(supervised_command(SupervisedMode::train, {"--resume", r}), UsageError);
  CHECK_THROWS_CONTAINS(supervised_command(SupervisedMode::train, {"--resume", r}),
                        "holds a `moco pretrain` run (MoCo v2, resnet18");
  CHECK_THROWS_CONTAINS(supervised_command(SupervisedMode::train, {"--resume", r}),
                        "continue it with: moco pretrain --resume");
  CHECK(slurp(r + "/config.json") == cfg);
  // Another model: the flags and the checkpoint are named side by side.
  CHECK_THROWS_CONTAINS(pretrain_command({"--resume", r, "--arch", "vit_tiny"}), "arch resnet18 in the checkpoint");
  CHECK_THROWS_CONTAINS(pretrain_command({"--resume", r, "--width", "8"}), "width 4 in the checkpoint, 8 from the flags");
  CHECK(slurp(r + "/config.json") == cfg);
  // The run's own values still come back, and it goes on.
  REQUIRE(pretrain_command({"--resume", r, "--stop-after", "1"}) == 0);
  CHECK(load_checkpoint(r).epoch() == 2);
  CHECK(config_flag(r, "data-fraction") == "0.5");
  CHECK(RunDir(r).read_metrics().size() == 2);
}

TEST_CASE("an --out that holds a run is refused without --overwrite; a second writer is refused with the pid") {
  const auto& d = tiny();
  const std::string r = d.out("occupied");
  REQUIRE(supervised_command(SupervisedMode::train, d.args(plus(kSup, {"--out", r, "--epochs", "1"}))) == 0);
  const std::string ckpt = slurp(r + "/checkpoint.safetensors"), metrics = slurp(r + "/metrics.jsonl");
  CHECK_THROWS_AS(supervised_command(SupervisedMode::train, d.args(plus(kSup, {"--out", r}))), UsageError);
  CHECK_THROWS_CONTAINS(supervised_command(SupervisedMode::train, d.args(plus(kSup, {"--out", r}))),
                        "already holds files");
  CHECK_THROWS_CONTAINS(pretrain_command(d.args(plus(kPre, {"--out", r}))), "replace it with --overwrite");
  CHECK(slurp(r + "/checkpoint.safetensors") == ckpt);
  CHECK(slurp(r + "/metrics.jsonl") == metrics);
  CHECK_THROWS_CONTAINS(supervised_command(SupervisedMode::train, {"--resume", r, "--overwrite"}),
                        "would delete the run it continues");
  // --overwrite replaces the run: two epochs now, from a fresh start.
  REQUIRE(supervised_command(SupervisedMode::train, d.args(plus(kSup, {"--out", r, "--overwrite"}))) == 0);
  CHECK(RunDir(r).read_metrics().size() == 2);
  CHECK(slurp(r + "/config.json").find("\"overwrite\":") == std::string::npos);  // a resume must not inherit it

  // One writer at a time: the lock names its holder.
  const std::string busy = d.out("busy");
  {
    RunLock held(busy);
    CHECK_THROWS_CONTAINS(RunLock{busy}, "in use by another moco process (pid " + std::to_string(::getpid()) + ")");
    CHECK_THROWS_AS(supervised_command(SupervisedMode::train, d.args(plus(kSup, {"--out", busy}))), UsageError);
    CHECK(folder_entries(busy).empty());  // nothing written by the refused run
  }
  RunLock again(busy);  // released with its holder
}

TEST_CASE("an epoch's metrics row is written before its checkpoint; failed writes stop the run; stale temps go") {
  const auto& d = tiny();
  // A checkpoint write that fails (its temporary path is a folder): the
  // epoch's row is already there, and --resume would drop it.
  const std::string r = d.out("row_first");
  fs::create_directories(r + "/checkpoint.safetensors.tmp." + std::to_string(::getpid()) + "/keep");
  CHECK_THROWS_CONTAINS(
      supervised_command(SupervisedMode::train, d.args(plus(kSup, {"--out", r, "--overwrite", "--epochs", "1"}))),
      "checkpoint.safetensors");
  CHECK(RunDir(r).read_metrics().size() == 1);
  CHECK_FALSE(fs::exists(r + "/checkpoint.safetensors"));

  // A full disk: appending a row fails loudly.
  const std::string full = d.out("full");
  fs::create_directories(full);
  fs::create_symlink("/dev/full", full + "/metrics.jsonl");
  CHECK_THROWS_CONTAINS(RunDir(full).append_metrics({{"epoch", 1}}), "disk full");

  // Temporary files of a writer killed mid-write are removed when the run resumes.
  const std::string s = d.out("stale");
  REQUIRE(supervised_command(SupervisedMode::train, d.args(plus(kSup, {"--out", s, "--stop-after", "1"}))) == 0);
  std::ofstream(s + "/checkpoint.safetensors.tmp.99999") << "half a checkpoint";
  std::ofstream(s + "/config.json.tmp") << "{";
  std::ofstream(s + "/notes.tmp.txt") << "not ours";
  REQUIRE(supervised_command(SupervisedMode::train, {"--resume", s}) == 0);
  CHECK_FALSE(fs::exists(s + "/checkpoint.safetensors.tmp.99999"));
  CHECK_FALSE(fs::exists(s + "/config.json.tmp"));
  CHECK(fs::exists(s + "/notes.tmp.txt"));
  CHECK(RunDir(s).read_metrics().size() == 2);
}

TEST_CASE("non-finite weights are neither loaded nor saved") {
  const auto& d = tiny();
  const std::string r = d.out("nan_weights");
  REQUIRE(pretrain_command(d.args(plus(kPre, {"--out", r, "--stop-after", "1"}))) == 0);
  const std::string good = slurp(r + "/checkpoint.safetensors");
  // conv1 poisoned on disk: a ReLU network would map the NaNs to 0 and train on.
  nn::SafeTensors st = nn::load_safetensors(r + "/checkpoint.safetensors");
  for (auto& [n, t] : st.tensors)
    if (n == "encoder_q.conv1.weight") t.fill_(NAN);
  nn::save_safetensors(r + "/checkpoint.safetensors", st.tensors, st.metadata);
  CHECK_THROWS_CONTAINS(pretrain_command({"--resume", r}), "encoder_q.conv1.weight");
  CHECK_THROWS_CONTAINS(load_checkpoint(r), "NaN or infinite");
  CHECK_THROWS_CONTAINS(knn_command(d.args({"--pretrained", r, "--knn-k", "10"})), "are not finite");

  // save_checkpoint refuses them and keeps the good file.
  std::ofstream(r + "/checkpoint.safetensors", std::ios::binary | std::ios::trunc) << good;
  Checkpoint c = load_checkpoint(r);
  c.model[0].second = c.model[0].second.clone().fill_(INFINITY);
  CHECK_THROWS_CONTAINS(save_checkpoint(r + "/checkpoint.safetensors", c), "not saving them");
  CHECK(slurp(r + "/checkpoint.safetensors") == good);
}

TEST_CASE("train: a batch larger than the split is clamped before the lr is scaled from it") {
  const auto& d = tiny();
  const std::string r = d.out("clamp");
  REQUIRE(supervised_command(SupervisedMode::train,
                             d.args({"--arch", "resnet18", "--width", "4", "--epochs", "1", "-b", "100000",
                                     "--label-fraction", "0.5", "--out", r})) == 0);
  const std::string cfg = slurp(r + "/config.json");
  CHECK(config_flag(r, "batch-size") == "32");  // 64 images x 0.5
  CHECK(config_flag(r, "lr") == "0.0125");      // 0.1 x 32 / 256
}

TEST_CASE("switches take only switch values; a named data copy must exist") {
  const auto& d = tiny();
  CHECK_THROWS_AS(pretrain_command(d.args(plus(kPre, {"--mlp=maybe", "--out", d.out("sw")}))), UsageError);
  CHECK_THROWS_CONTAINS(pretrain_command(d.args(plus(kPre, {"--mlp=maybe", "--out", d.out("sw")}))),
                        "--mlp=maybe: a switch is 1/0");
  // A flag the chosen recipe does not read is named, with why.
  const std::string said = capture_stdout(d.out("stdout.txt"), [&] {
    REQUIRE(pretrain_command(d.args({"--moco-version", "v3", "--arch", "resnet18", "--width", "4", "--batch-size",
                                     "16", "--epochs", "1", "--knn-every", "0", "--moco-k", "64", "--mlp",
                                     "--moco-mlp-dim", "32", "--data-fraction", "0.5", "--out", d.out("v3_k")})) == 0);
  });
  CHECK(said.find("warning: --moco-k is ignored by --moco-version v3 (MoCo v3 has no queue") != std::string::npos);
  CHECK(said.find("warning: --mlp is ignored by --moco-version v3") != std::string::npos);
  CHECK(said.find("--moco-mlp-dim is ignored") == std::string::npos);  // v3 reads it

  Args a("t", "");
  a.flag("cos", "");
  REQUIRE(a.parse({"--cos=off"}));
  CHECK_FALSE(a.on("cos"));
  REQUIRE(a.parse({"--cos=yes"}));
  CHECK(a.on("cos"));

  const char* old = std::getenv("MOCO_FASHION_MNIST");
  const std::string keep = old ? old : "";
  ::setenv("MOCO_FASHION_MNIST", "/nonexistent/fashion", 1);
  CHECK_THROWS_CONTAINS(data::find_fashion_mnist(), "MOCO_FASHION_MNIST=/nonexistent/fashion holds no");
  if (old) ::setenv("MOCO_FASHION_MNIST", keep.c_str(), 1);
  else ::unsetenv("MOCO_FASHION_MNIST");
}

TEST_CASE("checkpoint reader: overlapping tensors, overflowing shapes and a negative epoch are refused") {
  auto header_file = [](const std::string& header, size_t data_bytes) {
    std::vector<uint8_t> b(8 + header.size() + data_bytes, 0);
    const uint64_t n = header.size();
    std::memcpy(b.data(), &n, 8);
    std::memcpy(b.data() + 8, header.data(), header.size());
    return b;
  };
  CHECK_THROWS_CONTAINS(
      nn::decode_safetensors(header_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                         R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                         12)),
      "overlap");
  // 2^62 x 4 elements of 4 bytes wraps to 0 bytes in 64-bit arithmetic.
  CHECK_THROWS_CONTAINS(
      nn::decode_safetensors(header_file(
          R"({"q":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})", 0)),
      "more elements than a tensor can hold");
  Checkpoint c;
  c.model = {{"w", Tensor::zeros({2})}};
  c.meta = {{"epoch", "-3"}, {"epochs", "5"}};
  const std::string path = tiny().out("epoch.safetensors");
  save_checkpoint(path, c);
  CHECK_THROWS_CONTAINS(load_checkpoint(path), "metadata 'epoch' is '-3'");
  c.meta["epoch"] = "7";
  save_checkpoint(path, c);
  CHECK_THROWS_CONTAINS(load_checkpoint(path), "epoch 7 is past the run's 5 epochs");
}

TEST_CASE("a model too large for the machine is refused before it is built, with the numbers") {
  // The parameter count without building: exact against a built model.
  ModelSpec r;
  r.arch = "resnet18";
  r.width = 12;
  r.in_chans = 1;
  r.img_size = 16;
  r.num_classes = 4;
  CHECK(count_parameters(r) == doctest::Approx(double(make_backbone(r)->num_parameters(false))).epsilon(1e-12));
  r.arch = "resnet50";
  CHECK(count_parameters(r) == doctest::Approx(double(make_backbone(r)->num_parameters(false))).epsilon(1e-12));
  ModelSpec v;
  v.arch = "vit_tiny";
  v.patch = 4;
  v.dim = 48;
  v.depth = 3;
  v.heads = 3;
  v.in_chans = 3;
  v.img_size = 16;
  v.num_classes = 0;
  CHECK(count_parameters(v) == doctest::Approx(double(make_backbone(v)->num_parameters(false))).epsilon(1e-12));

  // Counting draws no weights: a model built after it is the one its seed gives.
  nn::manual_seed(5);
  const Tensor first = make_backbone(r)->named_parameters()[0].second.clone();
  nn::manual_seed(5);
  (void)count_parameters(v);
  CHECK_CLOSE(make_backbone(r)->named_parameters()[0].second, first, 0.0, 0.0);

  r.width = 4096;  // ~48 G parameters
  CHECK_THROWS_AS(make_backbone(r), UsageError);
  CHECK_THROWS_CONTAINS(make_backbone(r), "GiB available. Choose a smaller --width");
  const auto& d = tiny();
  CHECK_THROWS_CONTAINS(supervised_command(SupervisedMode::train,
                                           d.args({"--width", "4096", "--epochs", "1", "--out", d.out("huge")})),
                        "needs about");
  CHECK(folder_entries(d.out("huge")).empty());
  // A small checkpoint whose metadata asks for that width.
  Checkpoint c;
  c.model = {{"conv1.weight", Tensor::zeros({2})}};
  c.meta = r.to_meta();
  c.meta["format"] = "moco.cpp checkpoint";
  c.meta["kind"] = "supervised";
  c.meta["command"] = "train";
  save_checkpoint(d.out("huge.safetensors"), c);
  CHECK_THROWS_CONTAINS(knn_command(d.args({"--pretrained", d.out("huge.safetensors")})), "needs about");
}

TEST_CASE("a stop signal ends the step, saves a mid-epoch checkpoint, and --resume finishes bit for bit") {
  const auto& d = tiny();
  {  // the handler is installed while a run lasts: a signal sets the request, the process lives
    StopSignals s;
    CHECK(StopSignals::requested() == 0);
    ::raise(SIGTERM);
    CHECK(StopSignals::requested() == SIGTERM);
  }
  const std::vector<std::string> pre = plus(kPre, {"--log-every", "1", "--data-fraction", "1"});
  REQUIRE(pretrain_command(d.args(plus(pre, {"--out", d.out("sig_straight")}))) == 0);
  // Stopped twice: in its first step, then (resumed) in the next; then finished.
  const std::string r = d.out("sig_split");
  StopSignals::request(SIGINT);  // a request before the loop holds until its first step
  CHECK(pretrain_command(d.args(plus(pre, {"--out", r}))) == 130);
  const Checkpoint mid = load_checkpoint(r);
  CHECK(mid.epoch() == 0);
  CHECK(mid.meta.at("step_in_epoch") == "1");
  CHECK(RunDir(r).read_metrics().empty());
  CHECK(RunDir(r).read_rows("steps").size() == 1);
  StopSignals::request(SIGINT);
  CHECK(pretrain_command({"--resume", r}) == 130);
  CHECK(load_checkpoint(r).meta.at("step_in_epoch") == "2");
  CHECK(StopSignals::requested() == 0);  // cleared when the run ends
  REQUIRE(pretrain_command({"--resume", r}) == 0);
  check_same_checkpoint(d.out("sig_straight"), r);
  CHECK_FALSE(load_checkpoint(r).meta.count("step_in_epoch"));
  CHECK(column(r, "loss") == column(d.out("sig_straight"), "loss"));
  CHECK(column(r, "inst_top1") == column(d.out("sig_straight"), "inst_top1"));
  CHECK(RunDir(r).read_rows("steps").size() == RunDir(d.out("sig_straight")).read_rows("steps").size());

  // train the same way
  const std::vector<std::string> sup = plus(kSup, {"--epochs", "2", "--batch-size", "8"});
  REQUIRE(supervised_command(SupervisedMode::train, d.args(plus(sup, {"--out", d.out("sig_sup_straight")}))) == 0);
  const std::string s = d.out("sig_sup_split");
  StopSignals::request(SIGTERM);
  CHECK(supervised_command(SupervisedMode::train, d.args(plus(sup, {"--out", s}))) == 143);
  CHECK(load_checkpoint(s).meta.at("step_in_epoch") == "1");
  REQUIRE(supervised_command(SupervisedMode::train, {"--resume", s}) == 0);
  CHECK(column(s, "train_loss") == column(d.out("sig_sup_straight"), "train_loss"));
  CHECK(column(s, "val_top1") == column(d.out("sig_sup_straight"), "val_top1"));
}

TEST_CASE("messages name the problem: a class number too long for stoll, metadata a checkpoint lacks") {
  const auto& d = tiny();
  CHECK_THROWS_CONTAINS(supervised_command(SupervisedMode::train,
                                           d.args({"--classes", "99999999999999999999999", "--out", d.out("cls")})),
                        "--classes: '99999999999999999999999' is not a class number");
  Checkpoint c;
  c.model = {{"w", Tensor::zeros({2})}};
  c.meta = {{"format", "moco.cpp checkpoint"}, {"kind", "moco"}, {"arch", "resnet18"}};
  save_checkpoint(d.out("nometa.safetensors"), c);
  CHECK_THROWS_CONTAINS(load_pretrained(d.out("nometa.safetensors")), "checkpoint metadata lacks '");  // encoder_prefix or head
}
