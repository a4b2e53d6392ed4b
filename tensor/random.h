// Seeded, counter-based random numbers (Philox4x32-10). Element i of a draw
// depends only on (seed, offset + i), so results do not depend on the number
// of threads or the device. A Generator hands out disjoint counter ranges.
#pragma once
#include <array>
#include <cstdint>

#include "tensor/tensor.h"

namespace moco {

// The Philox4x32-10 block function: 4 random 32-bit words per counter.
std::array<uint32_t, 4> philox4x32(uint64_t counter, uint64_t key);
// Maps 32 random bits to a float/double uniform in [0, 1).
inline double uniform01(uint32_t bits) { return (bits >> 8) * (1.0 / 16777216.0); }

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed; offset_ = offset; }
  // Reserves `n` counters and returns the first.
  uint64_t advance(uint64_t n) { uint64_t o = offset_; offset_ += n; return o; }
  // Scalar draws, for host-side sampling (augmentation parameters, shuffles).
  double uniform(double lo = 0, double hi = 1);
  double normal(double mean = 0, double std = 1);
  int64_t randint(int64_t lo, int64_t hi);  // [lo, hi)

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::f32, Device device = {});
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::f32, Device device = {});
Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator& gen, Device device = {});
Tensor randperm(int64_t n, Generator& gen, Device device = {});
Tensor bernoulli(const Shape& shape, double p, Generator& gen, DType dtype = DType::f32, Device device = {});
// In-place fills, used by initialisers.
void uniform_(const Tensor& t, double lo, double hi, Generator& gen);
void normal_(const Tensor& t, double mean, double std, Generator& gen);

}  // namespace moco
