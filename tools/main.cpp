// moco: the command line of moco.cpp. `moco --help` lists the subcommands.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>

#include "tensor/error.h"
#include "tools/args.h"
#include "tools/command.h"
#include "train/dist.h"
#include "train/wait_policy.h"

static void print_usage() {
  auto cmds = moco::cli::commands();
  std::sort(cmds.begin(), cmds.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::printf("usage: moco <command> [options]   (moco <command> --help for its options)\n\ncommands:\n");
  for (auto& c : cmds) std::printf("  %-14s %s\n", c.name.c_str(), c.summary.c_str());
}

// ---- OpenMP's wait policy, chosen before libgomp starts ----
//
// libgomp reads OMP_WAIT_POLICY once, in its constructor, before main.
// ACTIVE (idle workers spin) is fastest on a machine that runs nothing else:
// oneDNN's and OpenBLAS's many parallel regions and barriers hand off in
// microseconds (ResNet-18 b64 step, 2 cores: ~31 vs ~28 img/s PASSIVE). On a
// busy machine spinning workers take the cores from the threads doing the
// work (a ResNet-18 step ran 3x slower, 17 s vs 5.9 s), so there PASSIVE.
// Unless the user chose a policy, a command that trains looks at the load
// (4 ms) and restarts once with the policy that fits (7 ms in all, measured
// on 2 cores); other commands (--help, knn, plot, ...) never look or restart.
//
// Both happen in the executable's .preinit_array, which the dynamic loader
// (or a static binary's start-up code) runs before any library's constructor:
// the restart skips every constructor of the first image (OpenBLAS's,
// oneDNN's, libgomp's), and nothing has been allocated yet. The C library is
// not fully set up there (environ is not yet set in a dynamic program), so
// this code uses only system calls and the argv/envp it is handed.

namespace {

// The commands that train (their steps are where the wait policy matters).
bool trains(const char* command) {
  static const char* const kTraining[] = {"ablate", "bench", "compare", "demo", "finetune", "linear", "pretrain",
                                          "train"};
  for (const char* c : kTraining)
    if (std::strcmp(command, c) == 0) return true;
  return false;
}

void choose_openmp_wait_policy(int argc, char** argv, char** envp) {
  if (argc < 2 || argv == nullptr || envp == nullptr || !trains(argv[1])) return;
  for (int i = 2; i < argc; ++i)  // help computes nothing: answer it at once
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) return;
  moco::train::restart_with_wait_policy(argv, envp);
}

// Run by the loader before every library's constructor (see above).
__attribute__((section(".preinit_array"), used)) void (*const preinit_wait_policy)(int, char**, char**) =
    choose_openmp_wait_policy;

}  // namespace

int main(int argc, char** argv) {
  // Lines appear as they are written even when stdout is a log file (nohup,
  // tee), so a long run can be followed while it runs.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  std::string name = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  const moco::cli::Command* cmd = nullptr;
  for (auto& c : moco::cli::commands())
    if (c.name == name) cmd = &c;
  if (cmd == nullptr) {
    std::fprintf(stderr, "moco: unknown command '%s'\n\n", name.c_str());
    print_usage();
    return 2;
  }
  try {
    moco::train::init_distributed(&argc, &argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moco %s: error: %s\n", name.c_str(), e.what());
    return 2;
  }
  moco::train::ProcessGroup& world = moco::train::world();
  const int ranks = world.size(), rank = world.rank();
  if (rank != 0) (void)std::freopen("/dev/null", "w", stdout);  // rank 0 shows the progress
  const std::string who = ranks > 1 ? fmt::format(" (rank {} of {})", rank, ranks) : "";
  int rc = 0;
  bool usage = false;
  try {
    MOCO_USAGE_CHECK(ranks == 1 || name == "pretrain" || name == "train" || name == "linear" || name == "finetune",
                     "moco {} runs in one process; under mpirun pretrain (MoCo v1/v2), train, linear and finetune "
                     "run data-parallel", name);
    rc = cmd->run(args);
  } catch (const moco::cli::UsageError& e) {
    // Every rank meets the same flags: rank 0 says what is wrong; the others
    // wait a moment for it before ending the job, and speak only if it did not.
    if (rank != 0) sleep(2);
    std::fprintf(stderr, "moco %s%s: error: %s\n", name.c_str(), who.c_str(), e.what());
    rc = 2, usage = true;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "moco %s%s: error: out of memory; a smaller --batch-size, --width, --vit-dim or "
                         "--image-size needs less\n", name.c_str(), who.c_str());
    rc = 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moco %s%s: error: %s\n", name.c_str(), who.c_str(), e.what());
    rc = 1;
  }
  // A rank that failed ends the whole job: the others would wait for it in
  // their next collective for ever.
  if (ranks > 1 && (rc == 1 || usage)) world.abort(rc);
  moco::train::finalize_distributed();
  return rc;
}
