// What the rest of moco.cpp (tools, tests, benchmarks) may ask of the CUDA
// backend beyond the Backend interface. Plain C++ (no CUDA headers), declared
// only in builds with MOCO_WITH_CUDA; guard uses with #ifdef MOCO_WITH_CUDA.
// The core implements them (tensor/cuda/loader.cpp) by loading the CUDA
// plugin (tensor/cuda/plugin.h) on the first call, so calling them links no
// CUDA library; each throws the loader's clear error when the plugin, the
// CUDA libraries or the driver are missing (device_count() returns 0).
//
// Tensors reach the GPU through the Backend interface (Tensor::to(Device::cuda())
// and every op); nothing here is needed to run a model.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/cuda/allocator.h"
#include "tensor/process_group.h"

namespace moco::cuda {

// Number of usable CUDA GPUs; 0 (never an error) when there is none, no
// driver, no CUDA library or no plugin.
int device_count();
// Why device_count() is 0, in words for the user (which of the plugin, the
// CUDA libraries, the driver or a GPU is missing, and what to do); "" when a
// GPU is there.
std::string unavailable_reason();
// "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)"; throws for a device that is not present.
std::string device_name(int device = 0);
// "CUDA runtime 13000 (driver 13000), cuBLAS 130000, cuDNN 91900"
std::string library_versions();

// Memory of the caching allocator (tensor/cuda/allocator.h) of a device.
MemoryStats memory_stats(int device = 0);
void reset_peak_memory(int device = 0);
void empty_cache(int device = 0);

// Waits for the device's stream and reports errors that kernels recorded
// without synchronising (an out-of-range index in index_select, gather, ...).
// to_host (Tensor::to(cpu), item(), to_vector()) does the same.
void synchronize(int device = 0);

// TF32 tensor cores for float32 GEMMs (cuBLAS) and convolutions (cuDNN): about
// 10 bits of mantissa in the products. Off by default (tests compare against
// the CPU in float32); the environment variable MOCO_CUDA_TF32=1 turns it on
// at start-up.
void set_allow_tf32(bool on);
bool allow_tf32();

// Data-parallel collectives between GPUs through NCCL (tensor/cuda/nccl_group.cpp):
// wraps `host` (the MPI group that started the processes; it keeps carrying
// CPU tensors, and is taken over: null afterwards), this rank on GPU `device`.
// Throws a clear error, leaving `host` as it was, when the plugin was built
// without NCCL, libnccl.so.2 cannot be loaded or the GPU is not there.
std::unique_ptr<ProcessGroup> nccl_process_group(std::unique_ptr<ProcessGroup>& host, int device);

// Test hook: the Philox4x32-10 words the GPU computes for counters
// offset .. offset+n-1 (4 words per counter, in order), to check them bit for
// bit against tensor/random.cpp's philox4x32.
std::vector<uint32_t> philox_words(uint64_t seed, uint64_t offset, int64_t n, int device = 0);

}  // namespace moco::cuda
