// The `moco` command's subcommands, in one table (tools/commands.cpp) that
// main.cpp looks a name up in and `moco --help` lists.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace moco::cli {

struct Command {
  std::string name;
  std::string summary;  // one line for `moco --help`
  std::function<int(const std::vector<std::string>& args)> run;  // args after the subcommand
};

const std::vector<Command>& commands();

// The commands small enough to need no header of their own.
int demo_command(const std::vector<std::string>& argv);          // tools/demo.cpp
int show_augment_command(const std::vector<std::string>& argv);  // tools/show_augment.cpp
int bench_data_command(const std::vector<std::string>& argv);    // tools/bench_data.cpp

}  // namespace moco::cli
