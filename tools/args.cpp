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
  docs_[name] = Doc{def, help};
  declare(name, def);
  return *this;
}

Args& Args::flag(const std::string& name, const std::string& help) {
  order_.push_back(name);
  docs_[name] = Doc{"", help};
  declare(name, "0", true);
  return *this;
}

Args& Args::alias(const std::string& spelling, const std::string& name) {
  MOCO_CHECK(has(name), "internal: alias {} of undeclared option --{}", spelling, name);
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
    MOCO_USAGE_CHECK(has(name), "unknown option --{} (see moco {} --help)", name, command_);
    if (is_switch(name)) {
      value = has_value ? value : "1";
      (void)switch_value(name, value);  // --mlp=maybe is an error, not "off"
    } else if (!has_value) {
      MOCO_USAGE_CHECK(i + 1 < argv.size(), "option --{} needs a value", name);
      value = argv[++i];
    }
    give(name, value);
  }
  return true;
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
    const Doc& o = docs_.at(n);
    std::string left = "--" + n + (is_switch(n) ? "" : " " + (o.def.empty() ? std::string("VALUE") : o.def));
    if (auto sp = spellings_.find(n); sp != spellings_.end())
      for (auto& alt : sp->second) left += ", " + alt;
    std::printf("  %-28s %s\n", left.c_str(), o.help.c_str());
  }
}

}  // namespace moco::cli
