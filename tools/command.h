// The `moco` command's subcommands register themselves here, one file each
// (tools/cmd_<name>.cpp), so main.cpp never changes when one is added.
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

std::vector<Command>& registry();

struct Register {
  explicit Register(Command c) { registry().push_back(std::move(c)); }
};

}  // namespace moco::cli
