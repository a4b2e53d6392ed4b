// Seeds for the data pipeline. Every random choice of a sample (crop box,
// jitter factors, flips...) comes from a Generator seeded by
// sample_seed(seed, epoch, index), so a sample's views depend only on those
// three numbers, not on the worker that made it or the order of work.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "tensor/random.h"

namespace moco::data {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Tags keep the streams for different purposes apart.
enum class Stream : uint64_t { sample = 1, shuffle = 2, subset = 3, split = 4 };

inline uint64_t mix_seed(uint64_t seed, Stream s, uint64_t a, uint64_t b = 0) {
  uint64_t h = splitmix64(seed ^ (uint64_t(s) * 0xD6E8FEB86659FD93ull));
  h = splitmix64(h ^ a);
  return splitmix64(h ^ (b * 0x9E3779B97F4A7C15ull));
}
inline uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index) {
  return mix_seed(seed, Stream::sample, uint64_t(epoch), uint64_t(index));
}

// Fisher-Yates with `gen`.
template <class T>
void shuffle_in_place(std::vector<T>& v, Generator& gen) {
  for (int64_t i = int64_t(v.size()) - 1; i > 0; --i) std::swap(v[size_t(i)], v[size_t(gen.randint(0, i + 1))]);
}

}  // namespace moco::data
