#include "train/run_config.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <fstream>

#include "tensor/error.h"
#include "train/run_dir.h"

#ifndef MOCO_VERSION
#define MOCO_VERSION "unknown"
#endif
#ifndef MOCO_GIT_COMMIT
#define MOCO_GIT_COMMIT "unknown"
#endif

namespace moco::train {

using json = nlohmann::ordered_json;

namespace {

constexpr int kFormat = 2;

// A whole number or a real number the way a flag spells it ("4096", "-1",
// "0.03", "1e-4"), not a name that happens to start with digits.
json number_or_string(const std::string& v) {
  if (v.empty() || v.size() > 40) return v;
  const char* s = v.c_str();
  char* end = nullptr;
  errno = 0;
  const long long i = std::strtoll(s, &end, 10);
  if (*end == 0 && errno == 0 && v.find_first_not_of("+-0123456789") == std::string::npos &&
      std::to_string(i) == v)  // "007" stays a string, so it reads back as written
    return i;
  // A leading zero before a digit ("007", "-01.5") is a name, not a number.
  const size_t digit = v.find_first_not_of("+-");
  if (digit + 1 < v.size() && v[digit] == '0' && std::isdigit(static_cast<unsigned char>(v[digit + 1]))) return v;
  errno = 0;
  const double d = std::strtod(s, &end);
  if (*end == 0 && errno == 0 && v.find_first_not_of("+-0123456789.eE") == std::string::npos) return d;
  return v;
}

std::string as_flag_string(const json& v) {
  if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) return fmt::format("{}", v.get<double>());  // shortest text that reads back the same
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::string str_or(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::string build_version() { return MOCO_VERSION; }
std::string build_commit() { return MOCO_GIT_COMMIT; }

std::string utc_now_iso() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void write_run_config(const std::string& path, RunConfig c) {
  if (c.started.empty()) c.started = utc_now_iso();
  if (c.version.empty()) c.version = build_version();
  if (c.commit.empty()) c.commit = build_commit();
  json j;
  j["format"] = kFormat;
  j["kind"] = c.kind;
  j["command"] = c.command;
  if (!c.resumed_with.empty()) j["resumed_with"] = c.resumed_with;
  j["started"] = c.started;
  j["moco_version"] = c.version;
  j["commit"] = c.commit;
  json flags = json::object();
  for (auto& [k, v] : c.flags) flags[k] = c.switches.count(k) ? json(v == "1") : number_or_string(v);
  j["flags"] = flags;
  json machine = json::object();
  for (auto& [k, v] : c.machine) machine[k] = number_or_string(v);
  j["machine"] = machine;
  write_file_atomic(path, j.dump(2) + "\n");
}

RunConfig read_run_config(const std::string& path) {
  std::ifstream f(path);
  MOCO_CHECK(f.good(), "{}: cannot open the run configuration", printable(path));
  json j;
  try {
    j = json::parse(f);
  } catch (const json::exception& e) {
    fail("{}: not a JSON run configuration ({})", printable(path), e.what());
  }
  MOCO_CHECK(j.is_object(), "{}: not a run configuration (expected a JSON object)", printable(path));
  RunConfig c;
  c.command = str_or(j, "command");
  c.resumed_with = str_or(j, "resumed_with");
  if (j.contains("format")) {
    MOCO_USAGE_CHECK(j["format"].is_number_integer(), "{}: \"format\" must be a whole number", printable(path));
    const int64_t f = j["format"].get<int64_t>();
    MOCO_USAGE_CHECK(f <= kFormat,
                     "{}: a run configuration of format {}, written by a newer moco; this one reads formats up to {}: "
                     "update moco, or pass the flags yourself",
                     printable(path), f, kFormat);
  }
  if (j.contains("flags")) {
    MOCO_CHECK(j["flags"].is_object(), "{}: \"flags\" must be an object of flag values", printable(path));
    c.kind = str_or(j, "kind");
    c.started = str_or(j, "started");
    c.version = str_or(j, "moco_version");
    c.commit = str_or(j, "commit");
    for (auto& [k, v] : j["flags"].items()) {
      MOCO_USAGE_CHECK(v.is_primitive() && !v.is_null(), "{}: flag \"{}\" has the value {}, expected a boolean, number or "
                 "string", printable(path), printable(k), printable(v.dump()));
      c.flags[k] = as_flag_string(v);
      if (v.is_boolean()) c.switches.insert(k);
    }
    if (j.contains("machine") && j["machine"].is_object())
      for (auto& [k, v] : j["machine"].items()) c.machine[k] = as_flag_string(v);
  } else {  // format 1: every flag a string at the top level
    for (auto& [k, v] : j.items())
      if (k != "command" && k != "resumed_with" && v.is_string()) c.flags[k] = v.get<std::string>();
  }
  return c;
}

}  // namespace moco::train
