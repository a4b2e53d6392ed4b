// A tiny generated data set for the command-line suites: IDX files (MNIST's
// format) in a temp folder, 64 training and 32 test images of 16x16, 4
// classes (a bright horizontal bar, vertical bar, diagonal or centre square
// at a jittered position), so whole training commands run in seconds.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace moco::test_data {

inline void put_be32(std::ofstream& f, uint32_t v) {
  const unsigned char b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
  f.write(reinterpret_cast<const char*>(b), 4);
}

// Class i % 4 on a noisy background (20-69), or on a near-black one (0-9)
// when `dark`, so a tint or an alpha channel can tell object from background.
inline void write_idx(const std::string& dir, const std::string& prefix, int n, uint32_t seed, bool dark = false) {
  const int S = 16;
  std::ofstream im(dir + "/" + prefix + "-images-idx3-ubyte", std::ios::binary);
  std::ofstream lb(dir + "/" + prefix + "-labels-idx1-ubyte", std::ios::binary);
  put_be32(im, 0x00000803);
  put_be32(im, uint32_t(n));
  put_be32(im, S);
  put_be32(im, S);
  put_be32(lb, 0x00000801);
  put_be32(lb, uint32_t(n));
  uint32_t s = seed;
  auto rnd = [&](int m) {
    s = s * 1664525u + 1013904223u;
    return int((s >> 8) % uint32_t(m));
  };
  for (int i = 0; i < n; ++i) {
    const int c = i % 4, o = rnd(6) + 3;
    std::vector<uint8_t> px(S * S);
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x) {
        const bool on = c == 0   ? (y >= o && y < o + 3)
                        : c == 1 ? (x >= o && x < o + 3)
                        : c == 2 ? std::abs(x - y) < 2
                                 : (std::abs(x - 8) < 3 && std::abs(y - 8) < 3);
        px[size_t(y * S + x)] = dark ? uint8_t(on ? 200 + rnd(50) : rnd(10))
                                     : uint8_t(std::min(255, (on ? 200 : 20) + rnd(50)));
      }
    im.write(reinterpret_cast<const char*>(px.data()), S * S);
    const char l = char(c);
    lb.write(&l, 1);
  }
}

// The data set in its own temp folder (`name` and the pid keep suites and
// parallel runs apart), removed at exit.
struct TinyData {
  std::string root;
  explicit TinyData(const std::string& name, bool dark = false) {
    root = (std::filesystem::temp_directory_path() / ("moco_test_" + name + "_" + std::to_string(::getpid()))).string();
    std::filesystem::remove_all(root);
    std::filesystem::create_directories(root + "/data");
    write_idx(root + "/data", "train", 64, 1, dark);  // 16 per class
    write_idx(root + "/data", "t10k", 32, 2, dark);   // 8 per class
  }
  ~TinyData() { std::filesystem::remove_all(root); }
  TinyData(const TinyData&) = delete;
  TinyData& operator=(const TinyData&) = delete;
  std::string out(const std::string& name) const { return root + "/" + name; }
  std::string spec() const { return "mnist:" + root + "/data"; }  // as data::open_dataset reads it
  std::vector<std::string> args(std::vector<std::string> extra) const {
    std::vector<std::string> a = {"--dataset", "mnist", "--data", root + "/data", "--workers", "2"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
};

// A whole file as text ("" when it cannot be read).
inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

// What `f` prints to stdout (the file descriptor, so printf from anywhere is
// caught), through the file `scratch`.
inline std::string capture_stdout(const std::string& scratch, const std::function<void()>& f) {
  std::fflush(stdout);
  const int saved = ::dup(1);
  std::FILE* tmp = std::fopen(scratch.c_str(), "w");
  ::dup2(::fileno(tmp), 1);
  auto restore = [&] {
    std::fflush(stdout);
    ::dup2(saved, 1);
    ::close(saved);
    std::fclose(tmp);
  };
  try {
    f();
  } catch (...) {
    restore();
    throw;
  }
  restore();
  return slurp(scratch);
}

inline std::vector<std::string> plus(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace moco::test_data
