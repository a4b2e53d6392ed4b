// safetensors files: 8 bytes (little-endian u64) header length N, N bytes of
// JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
// ..., "__metadata__": {"key": "value"}}, then the raw little-endian tensor
// bytes (offsets relative to the end of the header). The format of
// huggingface/safetensors, so files load with safetensors.torch.load_file.
//
// Writing is atomic: a temporary file in the same folder, flushed, then
// renamed over the target, so a crash never leaves a half-written checkpoint.
// Reading checks the header, every dtype, shape and offset, and names the
// tensor and the file in each error.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nn/module.h"

namespace moco::nn {

struct SafeTensors {
  NamedTensors tensors;  // in the file's header order
  std::map<std::string, std::string> metadata;
};

// Supported dtypes: F32, F64, I64 (those moco.cpp computes in). Tensors may
// live on any device and be any view; they are written contiguous.
std::vector<uint8_t> encode_safetensors(const NamedTensors& tensors,
                                        const std::map<std::string, std::string>& metadata = {});
SafeTensors decode_safetensors(const std::vector<uint8_t>& bytes, const std::string& what = "safetensors data");

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});
SafeTensors load_safetensors(const std::string& path);
// The __metadata__ strings alone, read from the header (no tensor data).
std::map<std::string, std::string> load_safetensors_metadata(const std::string& path);

// Writes `bytes` to `path` atomically (temp file + fsync + rename).
void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes);

}  // namespace moco::nn
