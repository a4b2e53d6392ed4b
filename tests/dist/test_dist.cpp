// Data-parallel training under mpirun (train/dist.h): 2 processes of 1
// thread each, on the tiny generated data set, against one process on the
// global batch. Each case starts `mpirun -np 2 moco ...` (the binary of this
// build) and compares what the runs wrote. Without MPI in the build, or
// without mpirun, the cases say so and check nothing else.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "nn/safetensors.h"
#include "test_util.h"
#include "tools/run_checks.h"
#include "tools/tiny_data.h"
#include "train/dist.h"
#include "train/run_config.h"

using namespace moco;
using namespace moco::test_data;

namespace {

struct DistData : TinyData {
  DistData() : TinyData("dist") {}
  // The command, then the tiny data set's flags, then `extra`.
  std::vector<std::string> args(const std::string& command, const std::vector<std::string>& extra) const {
    return plus({command}, TinyData::args(extra));
  }
};

const DistData& tiny() {
  static DistData d;
  return d;
}

bool have_mpi() {
  static const bool ok = train::mpi_compiled() && std::system("command -v mpirun > /dev/null 2>&1") == 0;
  if (!ok) MESSAGE("no MPI in this build or no mpirun: the data-parallel cases are skipped");
  return ok;
}

constexpr const char* kMpirun =
    "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=detect_leaks=0 mpirun --oversubscribe "
    "--bind-to none ";

std::string quote(const std::vector<std::string>& args) {
  std::string s;
  for (auto& a : args) s += " '" + a + "'";
  return s;
}

// Runs `moco ARGS` in `ranks` processes (0: without mpirun); returns the exit
// status, and the output in `out`.
int run_moco(int ranks, const std::vector<std::string>& args, std::string* out = nullptr) {
  const std::string log = tiny().out("cmd.log");
  std::string cmd = "OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE ";
  if (ranks > 0)  // CI runs as root; OpenMPI keeps its own allocations to exit (no leak reports in ASan builds)
    cmd += std::string(kMpirun) + "-np " + std::to_string(ranks) + " ";
  cmd += std::string(MOCO_BINARY) + quote(args) + " > '" + log + "' 2>&1";
  const int st = std::system(cmd.c_str());
  if (out) *out = slurp(log);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

// Runs the check program `program` (tests/dist/programs) with `args` on 2 ranks of 1 thread; returns the exit
// status, and the output in `log`.
int run_check(const char* program, const std::string& args, std::string* log) {
  const std::string path = tiny().out(std::filesystem::path(program).filename().string() + ".log");
  const int st = std::system(("OMP_NUM_THREADS=1 " + std::string(kMpirun) + "-np 2 " + program + " " + args + " > '" +
                              path + "' 2>&1").c_str());
  *log = slurp(path);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

// The same tensors within `tol` (the ranks add their gradients in another order); the optimiser's state
// (momentum buffers: running sums of gradients) within `state_tol`.
void check_close_checkpoints(const std::string& a, const std::string& b, double tol, double state_tol = 0) {
  if (state_tol == 0) state_tol = tol;
  nn::SafeTensors x = nn::load_safetensors(a + "/checkpoint.safetensors");
  nn::SafeTensors y = nn::load_safetensors(b + "/checkpoint.safetensors");
  REQUIRE(x.tensors.size() == y.tensors.size());
  for (size_t i = 0; i < x.tensors.size(); ++i) {
    INFO("tensor " << x.tensors[i].first);
    REQUIRE(x.tensors[i].first == y.tensors[i].first);
    const double t = x.tensors[i].first.rfind("optimizer.state.", 0) == 0 ? state_tol : tol;
    CHECK_CLOSE(x.tensors[i].second, y.tensors[i].second, t, t);
  }
  CHECK(x.metadata.at("epoch") == y.metadata.at("epoch"));
}

void check_close_columns(const std::string& a, const std::string& b, const std::string& col, double tol) {
  const std::vector<double> x = column(a, col), y = column(b, col);
  REQUIRE(x.size() == y.size());
  for (size_t i = 0; i < x.size(); ++i) CHECK(x[i] == doctest::Approx(y[i]).epsilon(tol));
}

// A ViT has no BatchNorm: its step on a split batch with averaged gradients
// is the step on the whole batch, up to float rounding. SGD, not the ViT's
// default AdamW: AdamW divides by the gradient's running RMS, so a gradient
// that is rounding noise (the attention's key bias, whose true gradient is 0)
// becomes a full lr-sized step whose sign the summation order decides.
const std::vector<std::string> kVit = {"--optimizer", "sgd", "--arch",      "vit_tiny", "--vit-dim", "32", "--vit-depth",
                                       "2",          "--vit-heads", "2",        "--batch-size", "16",
                                       "--epochs",   "2",           "--threads", "1",          "--seed", "4"};

}  // namespace

TEST_CASE("2 ranks, a model without BatchNorm: the same weights as 1 process on the global batch") {
  if (!have_mpi()) return;
  const auto& d = tiny();
  const std::string one = d.out("vit1"), two = d.out("vit2");
  REQUIRE(run_moco(0, plus(d.args("train", kVit), {"--out", one})) == 0);
  std::string log;
  REQUIRE_MESSAGE(run_moco(2, plus(d.args("train", kVit), {"--out", two}), &log) == 0, log);
  check_close_checkpoints(one, two, 1e-5);
  check_close_columns(one, two, "train_loss", 1e-6);
  check_close_columns(one, two, "val_loss", 1e-5);
  CHECK(column(one, "val_top1") == column(two, "val_top1"));  // evaluation sharded over the ranks, summed
  const train::RunConfig c = train::read_run_config(two + "/config.json");
  CHECK(c.machine.at("processes") == "2");
  CHECK(c.machine.at("dist-backend") == "mpi");
  CHECK(c.flags.at("batch-size") == "16");  // the global batch
}

TEST_CASE("a linear probe (frozen BatchNorm) on 2 ranks equals 1 process; resume with another number of ranks") {
  if (!have_mpi()) return;
  const auto& d = tiny();
  const std::string pre = d.out("pre");
  REQUIRE(run_moco(0, plus(d.args("pretrain", {"--width", "4", "--batch-size", "16", "--moco-k", "64", "--bn-splits",
                               "2", "--epochs", "1", "--knn-every", "0", "--threads", "1"}),
                       {"--out", pre})) == 0);
  const std::vector<std::string> lin = {"--pretrained", pre, "--batch-size", "16", "--epochs", "3",
                                        "--threads", "1", "--schedule", "2"};
  const std::string one = d.out("lin1"), two = d.out("lin2"), split21 = d.out("lin21"), split12 = d.out("lin12");
  REQUIRE(run_moco(0, plus(d.args("linear", lin), {"--out", one})) == 0);
  REQUIRE(run_moco(2, plus(d.args("linear", lin), {"--out", two})) == 0);
  check_close_checkpoints(one, two, 1e-5);
  check_close_columns(one, two, "train_loss", 1e-6);
  // 2 ranks, then 1 process for the rest; and the other way round.
  REQUIRE(run_moco(2, plus(d.args("linear", lin), {"--out", split21, "--stop-after", "1"})) == 0);
  REQUIRE(run_moco(0, {"linear", "--resume", split21}) == 0);
  check_close_checkpoints(one, split21, 1e-5);
  REQUIRE(run_moco(0, plus(d.args("linear", lin), {"--out", split12, "--stop-after", "2"})) == 0);
  REQUIRE(run_moco(2, {"linear", "--resume", split12}) == 0);
  check_close_checkpoints(one, split12, 1e-5);
  check_close_columns(one, split12, "val_top1", 1e-9);
}

TEST_CASE("MoCo v2 with shuffle-BN: 2 ranks equal their one-process emulation, queue and pointer included") {
  if (!have_mpi()) return;
  // tests/dist/programs/moco_ddp_check.cpp builds the emulation and says how.
  std::string log;
  const int rc = run_check(MOCO_DDP_CHECK, "", &log);
  INFO(log);
  CHECK(rc == 0);
  CHECK(log.find("2 ranks vs their one-process emulation, 3 steps: 130 tensors compared") != std::string::npos);
  CHECK(log.find(": the same") != std::string::npos);
}

TEST_CASE("SyncBatchNorm on 2 ranks equals BatchNorm2d / BatchNorm1d on the global batch; --sync-bn makes a ResNet's 2 ranks 1 process") {
  if (!have_mpi()) return;
  std::string log;
  const int rc = run_check(SYNCBN_CHECK, "", &log);
  INFO(log);
  CHECK(rc == 0);
  CHECK(log.find("on 2 ranks vs BatchNorm2d / BatchNorm1d on the global batch (4 cases)") != std::string::npos);
  CHECK(log.find(": the same") != std::string::npos);
  CHECK(log.find(": caught)") != std::string::npos);  // the broken SyncBatchNorm fails the same comparison
  // A ResNet (BatchNorm everywhere) trained on 2 ranks with --sync-bn: the weights and BN statistics of one
  // process on the global batch (without it each rank's BN sees its own 8 images: not the same run).
  const auto& d = tiny();
  const std::vector<std::string> res = {"--optimizer", "sgd", "--arch", "resnet18", "--width", "4", "--batch-size",
                                        "16", "--epochs", "2", "--threads", "1", "--seed", "2"};
  const std::string one = d.out("rn1"), sync = d.out("rn2sync");
  REQUIRE(run_moco(0, plus(d.args("train", res), {"--out", one})) == 0);
  REQUIRE(run_moco(2, plus(d.args("train", res), {"--out", sync, "--sync-bn"})) == 0);
  check_close_checkpoints(one, sync, 1e-4);
  check_close_columns(one, sync, "train_loss", 1e-5);
}

TEST_CASE("MoCo v3 on 2 ranks with SyncBatchNorm and gathered keys equals 1 process on the global batch") {
  if (!have_mpi()) return;
  // tests/dist/programs/moco_v3_ddp_check.cpp says why, and how the tolerance is shown to be tight.
  std::string out;
  const int rc = run_check(MOCO_V3_DDP_CHECK, "", &out);
  INFO(out);
  CHECK(rc == 0);
  for (const char* arch : {"resnet18", "vit_tiny"}) {
    const size_t at = out.find(std::string("moco_v3_ddp_check: ") + arch + ", 2 ranks vs 1 process");
    REQUIRE(at != std::string::npos);
    const std::string line = out.substr(at, out.find('\n', at) - at);
    CHECK(line.find(": the same;") != std::string::npos);
    CHECK(line.find(": both caught") != std::string::npos);
  }
}

TEST_CASE("moco pretrain --moco-version v3 --sync-bn under mpirun: 1 process's run, resumed with another number of ranks") {
  if (!have_mpi()) return;
  const auto& d = tiny();
  // 2 epochs of 4 steps, the kNN monitor after each. SGD, not the ResNet recipe's LARS: LARS scales each
  // step by |w| / |g|, so a layer whose gradient is small (the zero-initialised last BatchNorm of each block)
  // has its rounding noise magnified into the momentum buffers (2e-4 apart after 8 steps, the weights still
  // within 1e-4). Even with SGD the momentum buffers, sums of 8 steps' gradients through BatchNorm over 8
  // images, differ by up to 2.4e-4 in the unoptimised sanitizer build (another rounding of each op): 1e-3 for
  // them, still far below what a wrong cross-rank loss gives (0.34 and more in moco_v3_ddp_check).
  const std::vector<std::string> pre = {"--moco-version", "v3", "--optimizer", "sgd", "--width", "4", "--moco-mlp-dim", "32", "--moco-dim",
                                        "16", "--batch-size", "16", "--epochs", "2", "--warmup-epochs", "1",
                                        "--knn-k", "10", "--threads", "1", "--sync-bn"};
  const std::string one = d.out("v3one"), r = d.out("v3two");
  REQUIRE(run_moco(0, plus(d.args("pretrain", pre), {"--out", one})) == 0);
  std::string log;
  REQUIRE_MESSAGE(run_moco(2, plus(d.args("pretrain", pre), {"--out", r, "--stop-after", "1"}), &log) == 0, log);
  CHECK(log.find("pretrain epoch 1/2:") != std::string::npos);
  CHECK(column(r, "knn_top1").size() == 1);
  CHECK(train::read_run_config(r + "/config.json").machine.at("processes") == "2");
  REQUIRE(run_moco(0, {"pretrain", "--resume", r}) == 0);
  check_close_checkpoints(one, r, 1e-4, 1e-3);
  check_close_columns(one, r, "loss", 1e-5);
  check_close_columns(one, r, "knn_top1", 1e-9);
  // A ViT (BatchNorm only in its projector and predictor) end to end on 2 ranks.
  const std::string vit = d.out("v3vit");
  const std::vector<std::string> vit_flags = {"--moco-version", "v3", "--arch", "vit_tiny", "--vit-dim", "32",
                                              "--vit-depth", "2", "--vit-heads", "2", "--moco-mlp-dim", "32",
                                              "--batch-size", "16", "--epochs", "1", "--warmup-epochs", "0",
                                              "--knn-k", "10", "--threads", "1", "--sync-bn"};
  REQUIRE_MESSAGE(run_moco(2, plus(d.args("pretrain", vit_flags), {"--out", vit}), &log) == 0, log);
  CHECK(column(vit, "knn_top1").size() == 1);
}

TEST_CASE("moco pretrain under mpirun: end to end, rank 0 writes, resumed in one process") {
  if (!have_mpi()) return;
  const auto& d = tiny();
  const std::vector<std::string> pre = {"--width", "4", "--batch-size", "16", "--moco-k", "64", "--bn-splits", "2",
                                        "--epochs", "2", "--knn-k", "10", "--threads", "1"};
  const std::string r = d.out("pre2");
  std::string log;
  REQUIRE_MESSAGE(run_moco(2, plus(d.args("pretrain", pre), {"--out", r, "--stop-after", "1"}), &log) == 0, log);
  CHECK(column(r, "loss").size() == 1);
  CHECK(column(r, "knn_top1").size() == 1);
  CHECK(train::read_run_config(r + "/config.json").machine.at("processes") == "2");
  CHECK(log.find("pretrain epoch 1/2:") != std::string::npos);
  CHECK(log.find("(rank 1") == std::string::npos);  // one voice: rank 0's
  REQUIRE(run_moco(0, {"pretrain", "--resume", r}) == 0);
  CHECK(column(r, "loss").size() == 2);
  CHECK(train::load_checkpoint(r).epoch() == 2);
}

TEST_CASE("bad input under mpirun: one message from rank 0, every rank ends, nothing written") {
  if (!have_mpi()) return;
  const auto& d = tiny();
  const std::string out = d.out("bad");
  std::string log;
  CHECK(run_moco(2, plus(d.args("train", kVit), {"--batch-size", "15", "--out", out}), &log) == 2);
  CHECK(log.find("--batch-size 15 is the global batch: it must be a multiple of the 2 processes") != std::string::npos);
  CHECK(run_moco(2, plus(d.args("train", kVit), {"--dist-backend", "nccl", "--out", out}), &log) == 2);
#ifdef MOCO_WITH_CUDA
  CHECK(log.find("--dist-backend nccl connects GPUs: add --device cuda") != std::string::npos);
  // Where the GPUs or NCCL are missing, the NCCL group's failure ends the job with its message, through MPI.
  const int nccl_rc = run_moco(2, plus(d.args("train", kVit), {"--device", "cuda", "--dist-backend", "nccl",
                                                               "--epochs", "1", "--out", out + "-nccl"}), &log);
  INFO(log);
  CHECK(log.find("Segmentation fault") == std::string::npos);
  if (nccl_rc != 0) CHECK(log.find("error: ") != std::string::npos);
#else
  CHECK(log.find("--dist-backend nccl needs a CUDA build with NCCL") != std::string::npos);
#endif
  CHECK(run_moco(2, d.args("pretrain", {"--moco-version", "v2", "--batch-size", "16", "--sync-bn", "--out", out}),
                 &log) == 2);
  CHECK(log.find("--sync-bn is for MoCo v3; v1/v2 use shuffle-BN") != std::string::npos);
  CHECK(run_moco(2, {"compare", "--out", out}, &log) == 2);
  CHECK(log.find("moco compare runs in one process") != std::string::npos);
  CHECK(run_moco(0, plus(d.args("train", kVit), {"--dist-backend", "mpi", "--out", out}), &log) == 2);
  CHECK(log.find("start the command with mpirun -np N") != std::string::npos);
  // Ranks started with different flags (mpirun's MPMD form: one command line per rank).
  const std::string mp = "OMP_NUM_THREADS=1 " + std::string(kMpirun) + "-np 1 " + std::string(MOCO_BINARY) + quote(d.args("train", kVit)) + " --out '" + out +
                         "' --lr 0.1 : -np 1 " + std::string(MOCO_BINARY) + quote(d.args("train", kVit)) + " --out '" + out +
                         "' --lr 0.2 > '" + d.out("mpmd.log") + "' 2>&1";
  const int st = std::system(mp.c_str());
  CHECK((WIFEXITED(st) ? WEXITSTATUS(st) : 128) == 2);
  CHECK(slurp(d.out("mpmd.log")).find("started with different flags: rank 1 differs from rank 0") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out + "/checkpoint.safetensors"));
}

// Runs tests/dist/programs/guard_check MODE on 2 ranks; returns the exit status and the output in `log`.
int run_guard(const std::string& mode, std::string* log, double* seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = run_check(GUARD_CHECK, mode, log);
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rc;
}

TEST_CASE("a hung rank ends the job after --dist-timeout; ranks whose weights drift apart are caught") {
  if (!have_mpi()) return;
  std::string log;
  double sec = 0;
  // Rank 1 sleeps 60 s; rank 0's all-reduce (timeout 1 s) must end the job long before.
  CHECK(run_guard("hang", &log, &sec) != 0);
  INFO(log);
  CHECK(sec < 30);
  CHECK(log.find("rank 0 waited") != std::string::npos);
  CHECK(log.find("in the collective all_reduce for the other ranks (--dist-timeout 1 s)") != std::string::npos);
  CHECK(run_guard("prompt", &log, &sec) == 0);  // the same collective with both ranks there returns
  CHECK(log.find("all-reduce returned 3") != std::string::npos);
  // One weight of rank 1 off by a relative 1e-6: named; identical weights pass.
  CHECK(run_guard("drift", &log, &sec) != 0);
  CHECK(log.find("the ranks' weights differ after step 7: rank 1 holds another 1.bias than rank 0") !=
        std::string::npos);
  CHECK(run_guard("same", &log, &sec) == 0);
  CHECK(log.find("weights in sync") != std::string::npos);
  // A real run checked after every step: DDP keeps the ranks bit for bit identical.
  const auto& d = tiny();
  CHECK(run_moco(2, plus(d.args("train", kVit), {"--out", d.out("synced"), "--check-sync-every", "1", "--dist-timeout",
                                                  "120"}), &log) == 0);
  INFO(log);
  const train::RunConfig c = train::read_run_config(d.out("synced") + "/config.json");
  CHECK(c.machine.at("check-sync-every") == "1");
  CHECK(c.flags.count("check-sync-every") == 0);
}

TEST_CASE("the gradient all-reduce overlapped with the backward pass gives average_gradients' gradients bit for bit") {
  if (!have_mpi()) return;
  std::string log;
  const int rc = run_check(REDUCER_CHECK, "", &log);
  INFO(log);
  CHECK(rc == 0);
  CHECK(log.find("rank 0, pass 2: 7 buckets, 5 started during the pass; largest difference from "
                 "average_gradients 0") != std::string::npos);
}
