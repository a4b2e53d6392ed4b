#include "train/flags.h"

#include <cstdlib>
#include <sstream>

#include "tensor/error.h"

namespace moco::train {

void Flags::declare(const std::string& name, const std::string& value, bool is_switch) {
  values_[name] = Value{value, is_switch, false, false};
}

void Flags::give(const std::string& name, const std::string& value) {
  Value& v = get(name);
  v.value = value;
  v.given = true;
}

const Flags::Value& Flags::get(const std::string& name) const {
  auto it = values_.find(name);
  MOCO_CHECK(it != values_.end(), "internal: option --{} was never declared", name);
  return it->second;
}

Flags::Value& Flags::get(const std::string& name) {
  return const_cast<Value&>(static_cast<const Flags&>(*this).get(name));
}

std::string Flags::str(const std::string& name) const { return get(name).value; }

int64_t Flags::integer(const std::string& name, int64_t lo, int64_t hi) const {
  const std::string& s = get(name).value;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  MOCO_USAGE_CHECK(!s.empty() && *end == 0, "--{} expects an integer, got '{}'", name, s);
  MOCO_USAGE_CHECK(v >= lo && v <= hi, "--{} = {} is out of range [{}, {}]", name, v, lo, hi);
  return v;
}

double Flags::real(const std::string& name, double lo, double hi) const {
  const std::string& s = get(name).value;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  MOCO_USAGE_CHECK(!s.empty() && *end == 0, "--{} expects a number, got '{}'", name, s);
  MOCO_USAGE_CHECK(v >= lo && v <= hi, "--{} = {} is out of range [{}, {}]", name, v, lo, hi);
  return v;
}

bool Flags::switch_value(const std::string& name, const std::string& v) {
  if (v == "1" || v == "true" || v == "on" || v == "yes") return true;
  if (v == "0" || v == "false" || v == "off" || v == "no" || v.empty()) return false;
  usage_fail("--{}={}: a switch is 1/0, true/false, on/off or yes/no", name, printable(v));
}

bool Flags::on(const std::string& name) const { return switch_value(name, get(name).value); }

bool Flags::given(const std::string& name) const { return get(name).given; }

bool Flags::has(const std::string& name) const { return values_.count(name) != 0; }

bool Flags::is_switch(const std::string& name) const { return get(name).is_switch; }

void Flags::set(const std::string& name, const std::string& value) { get(name).value = value; }

void Flags::set_from_run(const std::string& name, const std::string& value) {
  Value& v = get(name);
  v.value = value;
  v.from_run = true;
}

bool Flags::from_run(const std::string& name) const { return get(name).from_run; }

std::vector<int64_t> Flags::int_list(const std::string& name) const {
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

std::map<std::string, std::string> Flags::values() const {
  std::map<std::string, std::string> m;
  for (auto& [k, v] : values_) m[k] = v.value;
  return m;
}

}  // namespace moco::train
