// The seam between moco.cpp and its CUDA backend. The backend is a plugin,
// libmoco_cuda.so, built beside the `moco` binary wherever CMake finds a CUDA
// toolkit, and loaded with dlopen on the first use of a CUDA device
// (tensor/cuda/loader.cpp). The binary and the core libraries link no CUDA
// library: they start in milliseconds and run unchanged where CUDA is missing.
//
// The plugin exports one C function, moco_cuda_plugin(), that returns the
// table below. Its C++ code calls moco's own functions (Tensor, shapes,
// errors) in the executable that loads it, which exports them for it (the
// dynamic list tensor/cuda/exports.map, added by CMakeLists.txt). A plugin
// therefore fits only binaries built from the same sources: the loader checks
// kPluginAbi, the hash of the interface headers (backend.h, this file) that
// CMake passes to both sides as MOCO_PLUGIN_INTERFACE, and a few type sizes;
// dlopen (RTLD_NOW) refuses a plugin that needs a function the binary lacks.
//
// Plain C++: no CUDA header, so the core can include it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tensor/backend.h"
#include "tensor/cuda/allocator.h"
#include "tensor/process_group.h"

namespace moco::cuda {

// Bumped whenever this table changes. Changes to the Backend interface
// change MOCO_PLUGIN_INTERFACE (the SHA-1 of tensor/backend.h and this file).
constexpr int kPluginAbi = 2;
#ifndef MOCO_PLUGIN_INTERFACE
#define MOCO_PLUGIN_INTERFACE "unknown"
#endif
constexpr const char* kPluginFile = "libmoco_cuda.so";
constexpr const char* kPluginEntry = "moco_cuda_plugin";
constexpr const char* kPluginEnv = "MOCO_CUDA_PLUGIN";

struct PluginApi {
  int abi;  // kPluginAbi of the plugin's sources
  const char* interface;  // MOCO_PLUGIN_INTERFACE of the plugin's sources
  size_t sizeof_tensor, sizeof_backend, sizeof_conv_geom, sizeof_memory_stats;

  // Usable GPUs. When there are none, *why_none (if given) says why, so the
  // user can tell a missing driver from a driver that sees no GPU.
  int (*device_count)(std::string* why_none);
  // The backend of a GPU, created on first use; throws moco::Error when the
  // GPU is not there.
  Backend& (*backend)(int device);
  // The functions of tensor/cuda/cuda_api.h, which forwards to these.
  std::string (*device_name)(int device);
  std::string (*library_versions)();
  MemoryStats (*memory_stats)(int device);
  void (*reset_peak_memory)(int device);
  void (*empty_cache)(int device);
  void (*synchronize)(int device);
  void (*set_allow_tf32)(bool on);
  bool (*allow_tf32)();
  std::vector<uint32_t> (*philox_words)(uint64_t seed, uint64_t offset, int64_t n, int device);
  // An NCCL group between the GPUs of the ranks of `host` (which it takes
  // over when it succeeds, and which carries CPU tensors and NCCL's start-up),
  // this rank on `device`; nullptr (with *why) in a plugin built without NCCL.
  ProcessGroup* (*nccl_group)(ProcessGroup* host, int device, std::string* why);
};

// The table of this binary's sources, for the loader's checks.
inline bool plugin_fits(const PluginApi& api) {
  return api.abi == kPluginAbi && std::strcmp(api.interface, MOCO_PLUGIN_INTERFACE) == 0 &&
         api.sizeof_tensor == sizeof(Tensor) && api.sizeof_backend == sizeof(Backend) &&
         api.sizeof_conv_geom == sizeof(Backend::ConvGeom) && api.sizeof_memory_stats == sizeof(MemoryStats);
}

}  // namespace moco::cuda

// The plugin's one exported symbol (kPluginEntry).
extern "C" const moco::cuda::PluginApi* moco_cuda_plugin();
