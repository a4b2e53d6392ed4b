// moco: the command line of moco.cpp. `moco --help` lists the subcommands.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>

#include "tensor/error.h"
#include "tools/args.h"
#include "tools/command.h"

namespace moco::cli {
std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}
}  // namespace moco::cli

static void print_usage() {
  auto cmds = moco::cli::registry();
  std::sort(cmds.begin(), cmds.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::printf("usage: moco <command> [options]   (moco <command> --help for its options)\n\ncommands:\n");
  for (auto& c : cmds) std::printf("  %-14s %s\n", c.name.c_str(), c.summary.c_str());
}

// Whether this process has the machine to itself: over the last 50 ms of a
// 0.15 s look at /proc/stat's procs_running, nothing else was ready to run in
// at least 8 of 10 samples. Not from the start: processes started beside this
// one (the other end of a pipe, a shell) are runnable for their first tens of
// milliseconds.
static bool machine_is_idle() {
  usleep(100000);
  int idle = 0;
  for (int i = 0; i < 10; ++i) {
    usleep(5000);
    std::FILE* f = std::fopen("/proc/stat", "r");
    if (f == nullptr) return false;
    char line[256];
    long running = -1;
    while (std::fgets(line, sizeof line, f) != nullptr)
      if (std::sscanf(line, "procs_running %ld", &running) == 1) break;
    std::fclose(f);
    if (running < 1) return false;
    idle += running == 1;  // only this process
  }
  return idle >= 8;
}

// libgomp reads OMP_WAIT_POLICY once, before main. ACTIVE (idle workers spin)
// is fastest on a machine that runs nothing else: oneDNN's and OpenBLAS's many
// parallel regions and barriers hand off in microseconds (ResNet-18 b64 step,
// 2 cores: ~31 vs ~28 img/s PASSIVE). On a busy machine spinning workers take
// the cores from the threads doing the work (a ResNet-18 step ran 3x slower,
// 17 s vs 5.9 s), so there PASSIVE. Unless the user chose a policy, look at
// the load now (0.15 s) and restart once with the one that fits.
static void choose_openmp_wait_policy(int argc, char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  for (int i = 1; i < argc; ++i)  // help computes nothing: answer it at once
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") return;
  if (argc < 2) return;
  setenv("OMP_WAIT_POLICY", machine_is_idle() ? "ACTIVE" : "PASSIVE", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are
}

int main(int argc, char** argv) {
  choose_openmp_wait_policy(argc, argv);
  // Lines appear as they are written even when stdout is a log file (nohup,
  // tee), so a long run can be followed while it runs.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  std::string name = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  for (auto& c : moco::cli::registry()) {
    if (c.name != name) continue;
    try {
      return c.run(args);
    } catch (const moco::cli::UsageError& e) {
      std::fprintf(stderr, "moco %s: error: %s\n", name.c_str(), e.what());
      return 2;
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "moco %s: error: out of memory; a smaller --batch-size, --width, --vit-dim or "
                           "--image-size needs less\n", name.c_str());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "moco %s: error: %s\n", name.c_str(), e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "moco: unknown command '%s'\n\n", name.c_str());
  print_usage();
  return 2;
}
