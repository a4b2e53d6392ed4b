// CPU memory: 64-byte aligned buffers, with large ones kept on free and
// handed out again for the same size. A training step allocates the same
// activation and gradient shapes every iteration; without the cache, glibc
// returns those buffers to the OS between steps (mmap, or trimming the heap)
// and every new one costs a page fault and a kernel zero-fill per 4 KiB page
// (perf: ~10% of a single-threaded ViT-Tiny step in clear_page). Small
// buffers go straight to malloc, which reuses them well by itself.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tensor/cpu/cpu_backend.h"

namespace moco::cpu {

namespace {

constexpr size_t kCacheMinBytes = size_t(1) << 20;  // buffers below 1 MiB are not cached

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCacheOn = false;  // AddressSanitizer must see every free to catch use-after-free
#else
constexpr bool kCacheOn = true;
#endif

class BlockCache {
 public:
  // At most a quarter of the physical memory (and 8 GiB) sits free in the cache.
  BlockCache() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    const size_t phys = pages > 0 && page > 0 ? size_t(pages) * size_t(page) : size_t(4) << 30;
    limit_ = std::min(phys / 4, size_t(8) << 30);
  }

  void* take(size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.find(n);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    bytes_ -= n;
    return p;
  }

  void give(void* p, size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    if (bytes_ + n > limit_) {
      // Full (shapes changed, say from training to evaluation): start over
      // rather than keep buffers of sizes no longer asked for.
      for (auto& [size, blocks] : free_)
        for (void* b : blocks) std::free(b);
      free_.clear();
      bytes_ = 0;
      if (n > limit_) {
        std::free(p);
        return;
      }
    }
    free_[n].push_back(p);
    bytes_ += n;
  }

 private:
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;  // by exact (rounded) size
  size_t bytes_ = 0;
  size_t limit_ = 0;
};

// Never destroyed: tensors in static storage may be freed after it would be.
BlockCache& cache() {
  static BlockCache* c = new BlockCache;
  return *c;
}

size_t rounded_size(size_t nbytes) {
  return (std::max<size_t>(nbytes, 1) + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
}

}  // namespace

void* CpuBackend::allocate(size_t nbytes) {
  const size_t n = rounded_size(nbytes);
  if (kCacheOn && n >= kCacheMinBytes)
    if (void* p = cache().take(n)) return p;
  void* p = std::aligned_alloc(kCpuAlignment, n);
  MOCO_CHECK(p != nullptr, "cpu: out of memory allocating {} bytes", nbytes);
  return p;
}

void CpuBackend::deallocate(void* p, size_t nbytes) {
  const size_t n = rounded_size(nbytes);
  if (kCacheOn && p != nullptr && n >= kCacheMinBytes) return cache().give(p, n);
  std::free(p);
}

}  // namespace moco::cpu
