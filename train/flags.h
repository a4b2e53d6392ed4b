// The values of a command's flags as the library reads and resolves them:
// typed getters with range checks that name the flag, and where each value
// came from (the command line, a run's config.json, a default or a recipe).
// The library fills "auto" values and a resumed run's configuration through
// this, so a program built on it needs no particular command-line parser;
// tools/args.h declares, parses and documents the flags of `moco` on top of it.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace moco::train {

class Flags {
 public:
  // A flag and its default; a switch reads as on/off (default off: "0").
  void declare(const std::string& name, const std::string& value, bool is_switch = false);
  // As typed by the user: given() says so, and a recipe leaves it alone.
  void give(const std::string& name, const std::string& value);

  std::string str(const std::string& name) const;
  // Out-of-range or unparsable values are usage errors naming the flag.
  int64_t integer(const std::string& name, int64_t lo = INT64_MIN, int64_t hi = INT64_MAX) const;
  double real(const std::string& name, double lo = -1e300, double hi = 1e300) const;
  bool on(const std::string& name) const;
  std::vector<int64_t> int_list(const std::string& name) const;  // "1,2,3"
  bool given(const std::string& name) const;
  bool has(const std::string& name) const;  // declared
  bool is_switch(const std::string& name) const;
  // Changes a value after parsing (resolved defaults, a resumed run's
  // configuration) without marking it as given.
  void set(const std::string& name, const std::string& value);
  // As set(), for a value that comes from a run's config.json (--resume,
  // --config): a preset must not override it, as it would a default.
  void set_from_run(const std::string& name, const std::string& value);
  bool from_run(const std::string& name) const;
  // name -> value of every flag, for writing the resolved configuration.
  std::map<std::string, std::string> values() const;

  // A switch's spelling (1/0, true/false, on/off, yes/no; "" is off); anything else is a usage error.
  static bool switch_value(const std::string& name, const std::string& value);

 private:
  struct Value {
    std::string value;
    bool is_switch = false, given = false, from_run = false;
  };
  const Value& get(const std::string& name) const;
  Value& get(const std::string& name);
  std::map<std::string, Value> values_;
};

}  // namespace moco::train
