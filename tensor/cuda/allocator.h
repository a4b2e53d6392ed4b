// A caching allocator for device memory, one per GPU. cudaMalloc and cudaFree
// are slow (cudaFree synchronises the device), and a training step frees and
// asks again for the same sizes every iteration, so freed blocks go to a
// free list of their size bucket and the next request of that bucket reuses
// one without calling the driver.
//
// Buckets: up to 1 MiB, multiples of 512 bytes; above, 8 buckets per power of
// two (a block is at most 12.5% larger than asked). Every kernel of a device
// runs on the device's one stream, so a block freed by the host after its
// last kernel was queued can be handed out at once: a later kernel on the same
// stream runs after that one.
//
// When cudaMalloc fails the cached blocks are released and the call retried;
// if it fails again the error says how much was asked for, how much the
// device has free (cudaMemGetInfo) and how much moco.cpp holds.
//
// Plain C++ (the class is implemented in the CUDA plugin; its bucket sizes
// and format_bytes are inline, for the tests and the core).
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

namespace moco::cuda {

struct MemoryStats {
  size_t in_use = 0;         // bytes in live blocks (bucket sizes)
  size_t peak_in_use = 0;    // the most in_use has been since the last reset_peak()
  size_t cached = 0;         // bytes in free blocks kept for reuse
  size_t reserved = 0;       // in_use + cached: what moco.cpp holds from the driver
  size_t peak_reserved = 0;
  int64_t device_mallocs = 0;  // cudaMalloc calls
  int64_t reuses = 0;          // requests served from the free lists
};

class CachingAllocator {
 public:
  explicit CachingAllocator(int device) : device_(device) {}
  // Blocks live until the process exits (the driver reclaims them); freeing
  // them from a static destructor could run after the CUDA runtime is gone.
  ~CachingAllocator() = default;
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // The caller must have made `device` current (cudaSetDevice).
  void* allocate(size_t nbytes);
  void deallocate(void* p, size_t nbytes);  // nbytes as given to allocate
  void empty_cache();                       // returns every free block to the driver
  MemoryStats stats() const;
  void reset_peak();

  // The size of the block that serves a request of nbytes.
  static size_t bucket_size(size_t nbytes) {
    constexpr size_t kSmallStep = 512, kLarge = size_t(1) << 20;
    if (nbytes <= kSmallStep) return kSmallStep;
    if (nbytes < kLarge) return (nbytes + kSmallStep - 1) / kSmallStep * kSmallStep;
    size_t pow2 = kLarge;
    while (pow2 <= nbytes / 2) pow2 *= 2;  // the largest power of two <= nbytes
    const size_t step = pow2 / 8;
    return (nbytes + step - 1) / step * step;
  }

 private:
  void release_cached_locked();

  int device_;
  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;  // bucket size -> free blocks
  MemoryStats st_;
};

// "1.50 GiB", "12.0 MiB", "512 B"
inline std::string format_bytes(size_t n) {
  const double v = double(n);
  if (n >= (size_t(1) << 30)) return fmt::format("{:.2f} GiB", v / double(size_t(1) << 30));
  if (n >= (size_t(1) << 20)) return fmt::format("{:.1f} MiB", v / double(size_t(1) << 20));
  if (n >= (size_t(1) << 10)) return fmt::format("{:.1f} KiB", v / 1024.0);
  return fmt::format("{} B", n);
}

}  // namespace moco::cuda
