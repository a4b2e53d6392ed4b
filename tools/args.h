// A small flag parser for the subcommands: --name value, --name=value and
// boolean switches, aliases, --help text; clear errors for unknown flags and
// missing values. The values, their typed getters and range checks are the
// library's (train/flags.h), which resolves them.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "tensor/error.h"
#include "train/flags.h"

namespace moco::cli {

// Usage errors (moco::UsageError, MOCO_USAGE_CHECK: exit status 2) live in
// tensor/error.h, so that the library can raise them too.
using moco::UsageError;
using moco::usage_fail;

class Args : public train::Flags {
 public:
  Args(std::string command, std::string description);

  // Declarations (before parse). `def` is the default shown in --help.
  Args& opt(const std::string& name, const std::string& def, const std::string& help);
  Args& flag(const std::string& name, const std::string& help);  // boolean switch, default off
  // Another spelling of a declared option, as the official scripts have them:
  // alias("-b", "batch-size"), alias("--learning-rate", "lr"). Shown in --help.
  Args& alias(const std::string& spelling, const std::string& name);

  // Returns false when --help was asked for (help already printed).
  bool parse(const std::vector<std::string>& argv);
  void print_help() const;

 private:
  struct Doc {
    std::string def, help;
  };
  std::string command_, description_;
  std::vector<std::string> order_;
  std::map<std::string, Doc> docs_;
  std::map<std::string, std::string> aliases_;                   // spelling -> option name
  std::map<std::string, std::vector<std::string>> spellings_;    // option name -> its aliases
};

}  // namespace moco::cli
