#include "fuzz/targets.h"

#include <unistd.h>

#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>

#include "data/dataset.h"
#include "data/io.h"
#include "nn/safetensors.h"
#include "tensor/error.h"
#include "train/run_config.h"
#include "train/run_dir.h"

namespace moco::fuzz {

namespace {

namespace fs = std::filesystem;

// The file readers take paths: the input goes to files in a folder of this
// process's own.
struct ScratchDir {
  std::string path;
  ScratchDir() : path((fs::temp_directory_path() / ("moco_fuzz_" + std::to_string(::getpid()))).string()) {
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

const std::string& scratch_dir() {
  static const ScratchDir dir;
  return dir.path;
}

std::string put(const std::string& name, const uint8_t* data, size_t n) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                 std::streamsize(n));
  return path;
}

// Two files (images, labels) from one input: the first 4 bytes (little-endian)
// give the first file's length, clamped to what follows.
std::pair<std::string, std::string> put_two(const std::string& a, const std::string& b, const uint8_t* data,
                                            size_t n) {
  if (n < 4) return {put(a, data, 0), put(b, data, 0)};
  uint32_t len = 0;
  std::memcpy(&len, data, 4);
  const size_t cut = std::min<size_t>(len, n - 4);
  return {put(a, data + 4, cut), put(b, data + 4 + cut, n - 4 - cut)};
}

// Reading a data set touches every image it will hand out.
void touch(const data::Dataset& ds) {
  const int64_t n = std::min<int64_t>(ds.size(), 64);
  for (int64_t i = 0; i < n; ++i) {
    (void)ds.image(i);
    (void)ds.label(i);
  }
}

void image(const uint8_t* data, size_t n) {
  // TGA has no signature and is read only from a file named .tga; most TGA
  // files start with a zero byte (no image ID), which no other format does.
  const char* name = n > 0 && data[0] == 0 ? "fuzz.tga" : "fuzz.png";
  for (int channels : {0, 1, 3}) (void)data::decode_image(data, n, name, channels);
}

void idx(const uint8_t* data, size_t n) {
  auto [im, lb] = put_two("images-idx3-ubyte", "labels-idx1-ubyte", data, n);
  touch(*data::load_idx(im, lb));
}

void cifar(const uint8_t* data, size_t n) {
  const std::vector<std::string> classes = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};  // CIFAR-10's count
  touch(*data::load_cifar_files({put("data_batch.bin", data, n)}, 1, 0, classes, "cifar10"));
}

void stl10(const uint8_t* data, size_t n) {
  const std::string dir = scratch_dir() + "/stl10_binary";
  fs::create_directories(dir);
  auto [x, y] = put_two("stl10_binary/train_X.bin", "stl10_binary/train_y.bin", data, n);
  (void)x, (void)y;
  touch(data::Stl10Dataset(dir, "train"));
}

void safetensors(const uint8_t* data, size_t n) {
  (void)nn::decode_safetensors(std::vector<uint8_t>(data, data + n), "fuzz.safetensors");
}

// The JSON a user hands moco besides checkpoints: a run folder's config.json
// (--config, --resume) and its metrics.jsonl (--resume, moco plot). Both
// readers get every input; the config reader's refusal is passed on once the
// rows reader has had its turn.
void json(const uint8_t* data, size_t n) {
  const std::string dir = scratch_dir() + "/run";
  fs::create_directories(dir);
  std::exception_ptr refused;
  try {
    (void)train::read_run_config(put("run/config.json", data, n));
  } catch (const Error&) {
    refused = std::current_exception();
  }
  (void)put("run/metrics.jsonl", data, n);
  (void)train::RunDir(dir).read_metrics();
  if (refused) std::rethrow_exception(refused);
}

}  // namespace

const std::vector<Target>& targets() {
  static const std::vector<Target> t = {{"image", image},     {"idx", idx},
                                        {"cifar", cifar},     {"stl10", stl10},
                                        {"safetensors", safetensors}, {"json", json}};
  return t;
}

const Target& target(const std::string& name) {
  for (auto& t : targets())
    if (t.name == name) return t;
  fail("unknown fuzz target '{}': image, idx, cifar, stl10, safetensors or json", name);
}

}  // namespace moco::fuzz
