// A reference-counted block of memory on one device. Tensors are views into it.
#pragma once
#include <cstddef>
#include <memory>

#include "tensor/device.h"

namespace moco {

class Storage {
 public:
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
};

// CPU buffers are 64-byte aligned (a cache line, an AVX-512 vector).
constexpr size_t kCpuAlignment = 64;

}  // namespace moco
