// A small flag parser for the subcommands: --name value, --name=value and
// boolean switches; typed getters; --help text; clear errors for unknown
// flags, missing values and values that do not parse or are out of range.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "tensor/error.h"

namespace moco::cli {

// Usage errors (moco::UsageError, MOCO_USAGE_CHECK: exit status 2) live in
// tensor/error.h, so that the library can raise them too.
using moco::UsageError;
using moco::usage_fail;

class Args {
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

  std::string str(const std::string& name) const;
  int64_t integer(const std::string& name, int64_t lo = INT64_MIN, int64_t hi = INT64_MAX) const;
  double real(const std::string& name, double lo = -1e300, double hi = 1e300) const;
  bool on(const std::string& name) const;
  bool given(const std::string& name) const;  // set on the command line
  bool has(const std::string& name) const;    // declared
  // Changes a value after parsing (resolved defaults, a resumed run's
  // configuration) without marking it as given on the command line.
  void set(const std::string& name, const std::string& value);
  // As set(), for a value that comes from a run's config.json (--resume,
  // --config): a preset must not override it, as it would a default.
  void set_from_run(const std::string& name, const std::string& value);
  bool from_run(const std::string& name) const;
  bool is_switch(const std::string& name) const;
  std::vector<int64_t> int_list(const std::string& name) const;  // "1,2,3"
  void print_help() const;
  // name -> value of every option, for writing the resolved configuration.
  std::map<std::string, std::string> values() const;

 private:
  struct Opt {
    std::string def, help, value;
    bool is_flag = false, given = false, from_run = false;
  };
  const Opt& get(const std::string& name) const;
  static bool switch_value(const std::string& name, const std::string& value);
  std::string command_, description_;
  std::vector<std::string> order_;
  std::map<std::string, Opt> opts_;
  std::map<std::string, std::string> aliases_;                   // spelling -> option name
  std::map<std::string, std::vector<std::string>> spellings_;    // option name -> its aliases
};

}  // namespace moco::cli
