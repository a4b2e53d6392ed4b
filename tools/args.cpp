#include "tools/args.h"

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "tensor/error.h"

namespace moco::cli {

Args::Args(std::string command, std::string description)
    : command_(std::move(command)), description_(std::move(description)) {}

Args& Args::opt(const std::string& name, const std::string& def, const std::string& help) {
  order_.push_back(name);
  opts_[name] = Opt{def, help, def, false, false};
  return *this;
}

Args& Args::flag(const std::string& name, const std::string& help) {
  order_.push_back(name);
  opts_[name] = Opt{"", help, "0", true, false};
  return *this;
}

Args& Args::alias(const std::string& spelling, const std::string& name) {
  MOCO_CHECK(opts_.count(name), "internal: alias {} of undeclared option --{}", spelling, name);
  aliases_[spelling] = name;
  spellings_[name].push_back(spelling);
  return *this;
}

bool Args::parse(const std::vector<std::string>& argv) {
  for (size_t i = 0; i < argv.size(); ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      print_help();
      return false;
    }
    {  // an alias, alone or as alias=value
      const size_t eq = a.find('=');
      auto al = aliases_.find(a.substr(0, eq));
      if (al != aliases_.end()) a = "--" + al->second + (eq == std::string::npos ? "" : a.substr(eq));
    }
    MOCO_USAGE_CHECK(a.rfind("--", 0) == 0, "unexpected argument '{}' (options start with --; see moco {} --help)", a,
               command_);
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    auto it = opts_.find(name);
    MOCO_USAGE_CHECK(it != opts_.end(), "unknown option --{} (see moco {} --help)", name, command_);
    Opt& o = it->second;
    if (o.is_flag) {
      o.value = has_value ? value : "1";
      (void)switch_value(name, o.value);  // --mlp=maybe is an error, not "off"
    } else {
      if (!has_value) {
        MOCO_USAGE_CHECK(i + 1 < argv.size(), "option --{} needs a value", name);
        value = argv[++i];
      }
      o.value = value;
    }
    o.given = true;
  }
  return true;
}

const Args::Opt& Args::get(const std::string& name) const {
  auto it = opts_.find(name);
  MOCO_CHECK(it != opts_.end(), "internal: option --{} was never declared", name);
  return it->second;
}

std::string Args::str(const std::string& name) const { return get(name).value; }

int64_t Args::integer(const std::string& name, int64_t lo, int64_t hi) const {
  const std::string& s = get(name).value;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  MOCO_USAGE_CHECK(!s.empty() && *end == 0, "--{} expects an integer, got '{}'", name, s);
  MOCO_USAGE_CHECK(v >= lo && v <= hi, "--{} = {} is out of range [{}, {}]", name, v, lo, hi);
  return v;
}

double Args::real(const std::string& name, double lo, double hi) const {
  const std::string& s = get(name).value;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  MOCO_USAGE_CHECK(!s.empty() && *end == 0, "--{} expects a number, got '{}'", name, s);
  MOCO_USAGE_CHECK(v >= lo && v <= hi, "--{} = {} is out of range [{}, {}]", name, v, lo, hi);
  return v;
}

bool Args::switch_value(const std::string& name, const std::string& v) {
  if (v == "1" || v == "true" || v == "on" || v == "yes") return true;
  if (v == "0" || v == "false" || v == "off" || v == "no" || v.empty()) return false;
  usage_fail("--{}={}: a switch is 1/0, true/false, on/off or yes/no", name, printable(v));
}

bool Args::on(const std::string& name) const { return switch_value(name, get(name).value); }

bool Args::given(const std::string& name) const { return get(name).given; }

bool Args::has(const std::string& name) const { return opts_.count(name) != 0; }

void Args::set(const std::string& name, const std::string& value) {
  auto it = opts_.find(name);
  MOCO_CHECK(it != opts_.end(), "internal: option --{} was never declared", name);
  it->second.value = value;
}

std::vector<int64_t> Args::int_list(const std::string& name) const {
  std::vector<int64_t> out;
  std::stringstream ss(get(name).value);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    char* end = nullptr;
    long long v = std::strtoll(item.c_str(), &end, 10);
    MOCO_USAGE_CHECK(*end == 0, "--{} expects a comma-separated list of integers, got '{}'", name, get(name).value);
    out.push_back(v);
  }
  return out;
}

void Args::print_help() const {
  // The description, word-wrapped at 100 columns.
  std::string wrapped, line, word;
  std::stringstream words(description_);
  while (words >> word) {
    if (!line.empty() && line.size() + 1 + word.size() > 100) {
      wrapped += line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  wrapped += line;
  std::printf("usage: moco %s [options]\n\n%s\n\noptions:\n", command_.c_str(), wrapped.c_str());
  for (auto& n : order_) {
    const Opt& o = opts_.at(n);
    std::string left = "--" + n + (o.is_flag ? "" : " " + (o.def.empty() ? std::string("VALUE") : o.def));
    if (auto sp = spellings_.find(n); sp != spellings_.end())
      for (auto& alt : sp->second) left += ", " + alt;
    std::printf("  %-28s %s\n", left.c_str(), o.help.c_str());
  }
}

void Args::set_from_run(const std::string& name, const std::string& value) {
  set(name, value);
  opts_.at(name).from_run = true;
}

bool Args::from_run(const std::string& name) const { return get(name).from_run; }

bool Args::is_switch(const std::string& name) const { return get(name).is_flag; }

std::map<std::string, std::string> Args::values() const {
  std::map<std::string, std::string> m;
  for (auto& [k, o] : opts_) m[k] = o.value;
  return m;
}

}  // namespace moco::cli
