// Counter-based random fills: element i uses Philox counter (offset + i).
#include <cmath>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/random.h"

namespace moco::cpu {

template <class F>
static void fill_random(const Tensor& out, F draw) {
  MOCO_CHECK(out.is_contiguous(), "random fill: output must be contiguous");
  dispatch_float(out.dtype(), "random fill", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    scalar_t* p = ptr<scalar_t>(out);
    const int64_t n = out.numel();
#pragma omp parallel for schedule(static) if (n > 32768)
    for (int64_t i = 0; i < n; ++i) p[i] = scalar_t(draw(i));
  });
}

void CpuBackend::rand_uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) {
  fill_random(out, [&](int64_t i) {
    const auto w = philox4x32(offset + uint64_t(i), seed);
    // 24 random bits: a float in [0, 1) that never rounds up to 1.
    return lo + (hi - lo) * uniform01(w[0]);
  });
}

void CpuBackend::rand_normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) {
  fill_random(out, [&](int64_t i) {
    const auto w = philox4x32(offset + uint64_t(i), seed);
    const double u1 = 1.0 - uniform01(w[0]), u2 = uniform01(w[1]);  // Box-Muller
    return mean + std * std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * M_PI * u2);
  });
}

}  // namespace moco::cpu
