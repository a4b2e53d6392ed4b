#include "tensor/cuda/allocator.h"

#include <cuda_runtime.h>

#include <algorithm>

#include "tensor/cuda/check.h"
#include "tensor/error.h"

namespace moco::cuda {

std::string format_bytes(size_t n) {
  const double v = double(n);
  if (n >= (size_t(1) << 30)) return fmt::format("{:.2f} GiB", v / double(size_t(1) << 30));
  if (n >= (size_t(1) << 20)) return fmt::format("{:.1f} MiB", v / double(size_t(1) << 20));
  if (n >= (size_t(1) << 10)) return fmt::format("{:.1f} KiB", v / 1024.0);
  return fmt::format("{} B", n);
}

size_t CachingAllocator::bucket_size(size_t nbytes) {
  constexpr size_t kSmallStep = 512, kLarge = size_t(1) << 20;
  if (nbytes <= kSmallStep) return kSmallStep;
  if (nbytes < kLarge) return (nbytes + kSmallStep - 1) / kSmallStep * kSmallStep;
  size_t pow2 = kLarge;
  while (pow2 <= nbytes / 2) pow2 *= 2;  // the largest power of two <= nbytes
  const size_t step = pow2 / 8;
  return (nbytes + step - 1) / step * step;
}

void* CachingAllocator::allocate(size_t nbytes) {
  const size_t b = bucket_size(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = free_.find(b);
  void* p = nullptr;
  if (it != free_.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    st_.cached -= b;
    ++st_.reuses;
  } else {
    cudaError_t err = cudaMalloc(&p, b);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // clear it, give the cache back and try once more
      release_cached_locked();
      err = cudaMalloc(&p, b);
    }
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      fail("cuda:{}: out of memory: asked for {} ({} bytes); the device has {} free of {}; moco.cpp holds {} in "
           "live tensors (peak {}). Use a smaller batch or model",
           device_, format_bytes(b), nbytes, format_bytes(free_b), format_bytes(total_b), format_bytes(st_.in_use),
           format_bytes(st_.peak_in_use));
    }
    MOCO_CUDA_CHECK(err);
    ++st_.device_mallocs;
  }
  st_.in_use += b;
  st_.peak_in_use = std::max(st_.peak_in_use, st_.in_use);
  st_.reserved = st_.in_use + st_.cached;
  st_.peak_reserved = std::max(st_.peak_reserved, st_.reserved);
  return p;
}

void CachingAllocator::deallocate(void* p, size_t nbytes) {
  if (p == nullptr) return;
  const size_t b = bucket_size(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  free_[b].push_back(p);
  st_.in_use -= b;
  st_.cached += b;
  st_.reserved = st_.in_use + st_.cached;
}

void CachingAllocator::release_cached_locked() {
  for (auto& [size, blocks] : free_) {
    for (void* p : blocks) {
      cudaFree(p);  // synchronises the device, so no queued kernel still uses the block
      st_.cached -= size;
    }
    blocks.clear();
  }
  st_.reserved = st_.in_use + st_.cached;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cached_locked();
}

MemoryStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return st_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  st_.peak_in_use = st_.in_use;
  st_.peak_reserved = st_.reserved;
}

}  // namespace moco::cuda
