#include "tensor/random.h"

#include <cmath>

#include "tensor/backend.h"

namespace moco {

std::array<uint32_t, 4> philox4x32(uint64_t counter, uint64_t key) {
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0x9E3779B9u, c3 = 0x85EBCA6Bu;
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(0xD2511F53u) * c0;
    const uint64_t p1 = uint64_t(0xCD9E8D57u) * c2;
    const uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = uint32_t(p1);
    c3 = uint32_t(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {c0, c1, c2, c3};
}

double Generator::uniform(double lo, double hi) {
  auto w = philox4x32(advance(1), seed_);
  const double u = ((w[0] >> 5) * 67108864.0 + (w[1] >> 6)) * (1.0 / 9007199254740992.0);
  return lo + (hi - lo) * u;
}

double Generator::normal(double mean, double std) {
  auto w = philox4x32(advance(1), seed_);
  const double u1 = 1.0 - uniform01(w[0]), u2 = uniform01(w[1]);
  return mean + std * std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * M_PI * u2);
}

int64_t Generator::randint(int64_t lo, int64_t hi) {
  MOCO_CHECK(hi > lo, "randint: empty range [{}, {})", lo, hi);
  auto w = philox4x32(advance(1), seed_);
  const uint64_t r = (uint64_t(w[0]) << 32) | w[1];
  return lo + int64_t(r % uint64_t(hi - lo));
}

void uniform_(const Tensor& t, double lo, double hi, Generator& gen) {
  backend_for(t).rand_uniform(t, gen.seed(), gen.advance(uint64_t(t.numel())), lo, hi);
}

void normal_(const Tensor& t, double mean, double std, Generator& gen) {
  backend_for(t).rand_normal(t, gen.seed(), gen.advance(uint64_t(t.numel())), mean, std);
}

Tensor rand(const Shape& shape, Generator& gen, DType dtype, Device device) {
  Tensor t = Tensor::empty(shape, dtype, device);
  uniform_(t, 0, 1, gen);
  return t;
}

Tensor randn(const Shape& shape, Generator& gen, DType dtype, Device device) {
  Tensor t = Tensor::empty(shape, dtype, device);
  normal_(t, 0, 1, gen);
  return t;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator& gen, Device device) {
  MOCO_CHECK(high > low, "randint: empty range [{}, {})", low, high);
  std::vector<int64_t> v(static_cast<size_t>(numel_of(shape)));
  for (auto& x : v) x = gen.randint(low, high);
  return Tensor::from_vector(v, shape, device);
}

Tensor randperm(int64_t n, Generator& gen, Device device) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(v[size_t(i)], v[size_t(gen.randint(0, i + 1))]);  // Fisher-Yates
  return Tensor::from_vector(v, {n}, device);
}

Tensor bernoulli(const Shape& shape, double p, Generator& gen, DType dtype, Device device) {
  MOCO_CHECK(p >= 0 && p <= 1, "bernoulli: p = {} is not a probability", p);
  Tensor u = rand(shape, gen, dtype, device);
  Tensor out = Tensor::empty(shape, dtype, device);
  // u < p  <=>  p - u > 0: one affine op then a comparison against zero.
  Tensor pt = Tensor::full({}, p, dtype, device);
  backend_for(device).binary(BinaryOp::lt, out, u, expand_view(pt, shape));
  return out;
}

}  // namespace moco
