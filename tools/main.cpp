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

// libgomp reads OMP_WAIT_POLICY once, before main. With the default, idle
// OpenMP workers spin and take the cores from OpenBLAS and from other
// processes; on a busy 2-core machine a ResNet-18 step ran 3x slower (17 s vs
// 5.9 s, batch 32). Unless the user chose a policy, restart once as PASSIVE.
static void prefer_passive_openmp(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are
}

int main(int argc, char** argv) {
  prefer_passive_openmp(argv);
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
