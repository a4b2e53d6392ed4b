// Reader for the MOCOFIX1 fixtures written by tests/parity/gen_*.py (the
// format is described in tests/parity/gen_transforms.py), a temp-dir helper,
// and CHECK_ERROR_HAS for the messages of the bad-input tests.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "data/io.h"
#include "tensor/error.h"

namespace moco::testing {

struct FixArray {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  size_t numel() const {
    size_t n = 1;
    for (auto d : shape) n *= size_t(d);
    return n;
  }
  template <class T> std::vector<T> as() const {
    MOCO_CHECK(bytes.size() == numel() * sizeof(T), "fixture: dtype {} does not hold {}-byte elements", dtype,
               sizeof(T));
    std::vector<T> v(numel());
    std::memcpy(v.data(), bytes.data(), bytes.size());
    return v;
  }
};

inline std::map<std::string, FixArray> read_fixture(const std::string& path) {
  std::vector<uint8_t> raw = data::read_file(path);
  std::string head(raw.begin(), raw.begin() + std::min<size_t>(raw.size(), 9));
  MOCO_CHECK(head == "MOCOFIX1\n", "{}: not a MOCOFIX1 fixture", path);
  size_t pos = 9;
  std::vector<std::pair<std::string, FixArray>> order;
  while (true) {
    size_t nl = std::find(raw.begin() + long(pos), raw.end(), uint8_t('\n')) - raw.begin();
    MOCO_CHECK(nl < raw.size(), "{}: header not terminated", path);
    std::string line(raw.begin() + long(pos), raw.begin() + long(nl));
    pos = nl + 1;
    if (line == "END") break;
    std::istringstream ss(line);
    FixArray a;
    std::string name;
    int nd = 0;
    ss >> name >> a.dtype >> nd;
    a.shape.resize(size_t(nd));
    for (auto& d : a.shape) ss >> d;
    order.emplace_back(name, a);
  }
  std::map<std::string, FixArray> out;
  for (auto& [name, a] : order) {
    size_t es = a.dtype == "f64" ? 8 : a.dtype == "f32" ? 4 : 1;
    size_t nb = a.numel() * es;
    MOCO_CHECK(pos + nb <= raw.size(), "{}: truncated at array {}", path, name);
    a.bytes.assign(raw.begin() + long(pos), raw.begin() + long(pos + nb));
    pos += nb;
    out[name] = std::move(a);
  }
  return out;
}

// A fresh directory under $TMPDIR, removed with everything in it at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "moco-data-test-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back(0);
    MOCO_CHECK(::mkdtemp(buf.data()) != nullptr, "mkdtemp failed");
    path = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  FILE* f = std::fopen(path.c_str(), "wb");
  MOCO_CHECK(f != nullptr, "cannot write {}", path);
  if (!b.empty()) std::fwrite(b.data(), 1, b.size(), f);
  std::fclose(f);
}

// The error message of `f()`, "" when it does not throw moco::Error.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace moco::testing

// Checks that `expr` throws moco::Error whose message holds every string given.
#define CHECK_ERROR_HAS(expr, ...)                                                                              \
  do {                                                                                                          \
    std::string msg_ = ::moco::testing::error_of([&] { (void)(expr); });                                       \
    INFO("message: " << msg_);                                                                                  \
    CHECK_FALSE(msg_.empty());                                                                                  \
    for (const std::string& part_ : std::vector<std::string>{__VA_ARGS__}) CHECK(msg_.find(part_) != std::string::npos); \
  } while (0)
