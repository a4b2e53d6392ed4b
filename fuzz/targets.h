// The readers of files a user hands moco.cpp, as fuzz targets: each takes any
// bytes and must either read them or throw moco::Error — never crash, hang,
// read out of bounds or allocate without bound. fuzz/fuzz_target.cpp runs one
// under libFuzzer (tools/fuzz.sh TARGET SECONDS); tests/fuzz replays the
// corpus (fuzz/corpus/TARGET/) through the same functions in `make test`.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace moco::fuzz {

struct Target {
  std::string name;
  void (*run)(const uint8_t* data, size_t n);
};

// image (decode_image as the loader calls it), idx, cifar, stl10,
// safetensors, json.
const std::vector<Target>& targets();
const Target& target(const std::string& name);

}  // namespace moco::fuzz
