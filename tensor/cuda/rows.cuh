// Helpers of the row and column kernels of reduce.cu, layer_norm.cu and
// channel.cu: block size, warp and block all-reductions, the one-warp-or-
// one-block-per-row launcher, and the fixed-order sums of partials that keep
// the column sums deterministic.
#pragma once
#include <algorithm>

#include "tensor/cuda/strided.cuh"

namespace moco::cuda {

namespace {

constexpr int kThreads = 256;
constexpr unsigned kFull = 0xffffffffu;

// Reductions over the threads that share a row: a warp, or the whole block.
template <bool kBlock, class V, class Op>
__device__ __forceinline__ V group_allreduce(V v, Op op) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(kFull, v, o));
  if constexpr (kBlock) {
    __shared__ V sm[32];
    const int warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    if ((threadIdx.x & 31) == 0) sm[warp] = v;
    __syncthreads();
    v = sm[0];
    for (int w = 1; w < nwarps; ++w) v = op(v, sm[w]);
    __syncthreads();
  }
  return v;
}

struct MaxOp {  // std::max(m, v) as the CPU writes it: a NaN v never replaces m
  template <class V>
  __device__ V operator()(V m, V v) const {
    return m < v ? v : m;
  }
};
struct SumOp {
  template <class V>
  __device__ V operator()(V a, V b) const {
    return a + b;
  }
};

// Rows handled by one group: kBlock -> one row per block, else one per warp.
template <bool kBlock>
struct RowGroup {
  __device__ static int64_t first() {
    return kBlock ? int64_t(blockIdx.x) : int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  }
  __device__ static int64_t stride() { return kBlock ? int64_t(gridDim.x) : int64_t(gridDim.x) * (blockDim.x / 32); }
  __device__ static int lane() { return kBlock ? int(threadIdx.x) : int(threadIdx.x & 31); }
  __device__ static int width() { return kBlock ? int(blockDim.x) : 32; }
};

// Rows longer than this get a block each; shorter ones a warp.
constexpr int64_t kWarpRowMax = 1024;

template <class T, class KWarp, class KBlock, class... Args>
void launch_rows(const CudaBackend& be, int64_t rows, int64_t len, KWarp kwarp, KBlock kblock, Args... args) {
  if (rows == 0) return;
  if (len <= kWarpRowMax) {
    const int64_t rows_per_block = kThreads / 32;
    const int blocks = int(std::min<int64_t>((rows + rows_per_block - 1) / rows_per_block, int64_t(be.sm_count()) * 16));
    kwarp<<<blocks, kThreads, 0, be.stream()>>>(args...);
  } else {
    const int blocks = int(std::min<int64_t>(rows, int64_t(be.sm_count()) * 16));
    kblock<<<blocks, kThreads, 0, be.stream()>>>(args...);
  }
  MOCO_CUDA_CHECK_LAUNCH();
}

// Column sums (sum_cols, layer norm's dw and db): blocks of 32 columns, each
// with 8 row lanes combined in a fixed order.
constexpr int kColsPerBlock = 32, kRowLanes = 8;

// Adds the P (a, b) pairs at pair indices first, first + step, ... in order:
// the fixed summation order that makes the two-pass sums deterministic.
__device__ inline void add_partial_pairs(const double* partial, int64_t first, int64_t step, int64_t P, double& a,
                                         double& b) {
  for (int64_t p = 0; p < P; ++p) {
    a += partial[(first + p * step) * 2];
    b += partial[(first + p * step) * 2 + 1];
  }
}

}  // namespace

}  // namespace moco::cuda
