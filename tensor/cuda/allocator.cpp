#include "tensor/cuda/allocator.h"

#include <cuda_runtime.h>

#include <algorithm>

#include "tensor/cuda/check.h"
#include "tensor/error.h"

namespace moco::cuda {

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
