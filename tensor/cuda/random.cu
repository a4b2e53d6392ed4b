// Counter-based random fills: element i uses Philox4x32-10 at counter
// (offset + i) with key seed, exactly as tensor/random.cpp and
// tensor/cpu/random.cpp, so the CPU and the GPU draw the same numbers.
// The Philox words are bit-identical (integer arithmetic). The double
// arithmetic after them is spelled out with explicit roundings so that it is
// the very sequence the Release CPU build runs: GCC contracts `lo + span * u`
// and `mean + a * b` into one FMA under -march=x86-64-v3 (checked with
// objdump on tensor/cpu/random.cpp.o), so those are fma() here and every
// other product or sum is a separately rounded __dmul_rn / __dsub_rn. The
// uniforms are then identical bit for bit (a CPU build without FMA, e.g.
// Debug without -march, can differ from both in the last bit of a double).
// Normals also go through log/cos/sqrt in double, whose last bit may differ
// between glibc and CUDA's libdevice; after the cast to float32 the values
// almost always agree exactly, and otherwise by one unit in the last place.
#include "tensor/cuda/strided.cuh"

namespace moco::cuda {

namespace {

constexpr int kThreads = 256;

struct Words {
  uint32_t w[4];
};

__device__ __forceinline__ Words philox4x32(uint64_t counter, uint64_t key) {
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0x9E3779B9u, c3 = 0x85EBCA6Bu;
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
#pragma unroll
  for (int round = 0; round < 10; ++round) {
    const uint32_t hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    const uint32_t hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    const uint32_t n0 = hi1 ^ c1 ^ k0;
    const uint32_t n2 = hi0 ^ c3 ^ k1;
    c1 = lo1;
    c3 = lo0;
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// 24 random bits -> [0, 1), exactly tensor/random.h's uniform01.
__device__ __forceinline__ double uniform01(uint32_t bits) { return __dmul_rn(double(bits >> 8), 1.0 / 16777216.0); }

template <class T>
__global__ void uniform_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, double lo, double span) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const Words w = philox4x32(offset + uint64_t(i), seed);
    out[i] = T(fma(span, uniform01(w.w[0]), lo));
  }
}

template <class T>
__global__ void normal_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const Words w = philox4x32(offset + uint64_t(i), seed);
    const double u1 = __dsub_rn(1.0, uniform01(w.w[0])), u2 = uniform01(w.w[1]);  // Box-Muller
    const double r = sqrt(__dmul_rn(-2.0, log(u1)));
    out[i] = T(fma(__dmul_rn(std, r), cos(__dmul_rn(2 * M_PI, u2)), mean));
  }
}

__global__ void words_kernel(uint32_t* out, int64_t n, uint64_t seed, uint64_t offset) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const Words w = philox4x32(offset + uint64_t(i), seed);
    for (int k = 0; k < 4; ++k) out[4 * i + k] = w.w[k];
  }
}

}  // namespace

void CudaBackend::rand_uniform(const Tensor& out, uint64_t seed, uint64_t offset, double lo, double hi) {
  activate();
  MOCO_CHECK(out.is_contiguous(), "random fill: output must be contiguous");
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_float(out.dtype(), "random fill", [&](auto tag) {
    using T = typename decltype(tag)::type;
    uniform_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream_>>>(dptr<T>(out), n, seed, offset, lo, hi - lo);
    MOCO_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::rand_normal(const Tensor& out, uint64_t seed, uint64_t offset, double mean, double std) {
  activate();
  MOCO_CHECK(out.is_contiguous(), "random fill: output must be contiguous");
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_float(out.dtype(), "random fill", [&](auto tag) {
    using T = typename decltype(tag)::type;
    normal_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream_>>>(dptr<T>(out), n, seed, offset, mean, std);
    MOCO_CUDA_CHECK_LAUNCH();
  });
}

std::vector<uint32_t> gpu_philox_words(uint64_t seed, uint64_t offset, int64_t n, int device) {
  CudaBackend& be = backend(device);
  be.activate();
  std::vector<uint32_t> host(size_t(4 * n));
  if (n == 0) return host;
  Scratch buf(be, host.size() * sizeof(uint32_t));
  words_kernel<<<be.blocks_for(n, kThreads), kThreads, 0, be.stream()>>>(buf.as<uint32_t>(), n, seed, offset);
  MOCO_CUDA_CHECK_LAUNCH();
  be.to_host(host.data(), buf.as<uint32_t>(), host.size() * sizeof(uint32_t));
  return host;
}

}  // namespace moco::cuda
