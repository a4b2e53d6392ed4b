// moco: the command line of moco.cpp. `moco --help` lists the subcommands.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "tensor/error.h"
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

// Tasks ready to run on the machine right now, besides this one: the mean of
// a few samples of /proc/stat's procs_running (-1 where it cannot be read).
static double other_runnable_tasks() {
  double sum = 0;
  const int samples = 5;
  for (int i = 0; i < samples; ++i) {
    std::FILE* f = std::fopen("/proc/stat", "r");
    if (f == nullptr) return -1;
    char line[256];
    long running = -1;
    while (std::fgets(line, sizeof line, f) != nullptr)
      if (std::sscanf(line, "procs_running %ld", &running) == 1) break;
    std::fclose(f);
    if (running < 1) return -1;
    sum += double(running - 1);
    if (i + 1 < samples) usleep(2000);
  }
  return sum / samples;
}

// libgomp reads OMP_WAIT_POLICY once, before main. ACTIVE (idle workers spin)
// is fastest on a machine that runs nothing else: oneDNN's and OpenBLAS's many
// parallel regions and barriers hand off in microseconds (ResNet-18 b64 step,
// 2 cores: ~31 vs ~28 img/s PASSIVE). On a busy machine spinning workers take
// the cores from the threads doing the work (a ResNet-18 step ran 3x slower,
// 17 s vs 5.9 s), so there PASSIVE. Unless the user chose a policy, look at
// the load now and restart once with the one that fits.
static void choose_openmp_wait_policy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  const double others = other_runnable_tasks();
  setenv("OMP_WAIT_POLICY", others >= 0 && others < 0.5 ? "ACTIVE" : "PASSIVE", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are
}

int main(int argc, char** argv) {
  choose_openmp_wait_policy(argv);
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
    } catch (const std::exception& e) {
      std::fprintf(stderr, "moco %s: error: %s\n", name.c_str(), e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "moco: unknown command '%s'\n\n", name.c_str());
  print_usage();
  return 2;
}
