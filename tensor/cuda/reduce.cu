// Row and column reductions, softmax, layer norm and the per-channel sums of
// batch norm.
//
// reduce_rows: short rows get one warp each; long rows one block, or several
// blocks writing partial results that a second kernel combines (so a single
// long row still spreads over the GPU). Sums accumulate in double (int64 for
// int64), as the CPU backend does. max/min pick exactly the CPU's element: the
// first NaN if there is one, else the first maximum (ties go to the lower
// index, whatever order the threads combine in).
//
// Batch-norm statistics: grid (C, P) blocks, each summing part of one
// channel's N*S values into double partials, then one thread per channel adds
// its P partials in a fixed order (deterministic, no atomics). The variance
// is one pass over data shifted by the channel's first value (accurate in
// double for any float32 data).
#include <algorithm>

#include "tensor/cuda/strided.cuh"

namespace moco::cuda {

namespace {

constexpr int kThreads = 256;
constexpr unsigned kFull = 0xffffffffu;

// ---------------------------------------------------------------- reduce_rows

template <class T>
struct RV {
  typename Acc<T>::type v;
  int64_t i;  // -1: no element yet
};

template <class T>
__device__ __forceinline__ RV<T> combine(ReduceOp op, RV<T> a, RV<T> b) {
  if (op == ReduceOp::sum) return {a.v + b.v, 0};
  if (a.i < 0) return b;
  if (b.i < 0) return a;
  const bool an = d_isnan(a.v), bn = d_isnan(b.v);
  if (an || bn) {
    if (an && bn) return a.i < b.i ? a : b;
    return an ? a : b;
  }
  if (op == ReduceOp::max ? a.v > b.v : a.v < b.v) return a;
  if (op == ReduceOp::max ? b.v > a.v : b.v < a.v) return b;
  return a.i < b.i ? a : b;
}

template <class T>
__device__ __forceinline__ RV<T> warp_allreduce(ReduceOp op, RV<T> r) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    RV<T> other{__shfl_xor_sync(kFull, r.v, o), __shfl_xor_sync(kFull, r.i, o)};
    r = combine(op, r, other);
  }
  return r;
}

template <class T>
__device__ __forceinline__ RV<T> empty_rv(ReduceOp op) {
  return {typename Acc<T>::type(0), op == ReduceOp::sum ? 0 : -1};
}

template <class T>
__device__ __forceinline__ void write_result(ReduceOp op, RV<T> r, T* out, int64_t* idx, int64_t row) {
  out[row] = T(r.v);
  if (idx && op != ReduceOp::sum) idx[row] = r.i;
}

// One warp per row.
template <class T>
__global__ void __launch_bounds__(kThreads)
    reduce_rows_warp(const T* x, T* out, int64_t* idx, int64_t rows, int64_t len, ReduceOp op) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; r < rows; r += warps) {
    const T* row = x + r * len;
    RV<T> acc = empty_rv<T>(op);
    for (int64_t i = lane; i < len; i += 32) acc = combine(op, acc, RV<T>{typename Acc<T>::type(row[i]), i});
    acc = warp_allreduce(op, acc);
    if (lane == 0) write_result(op, acc, out, idx, r);
  }
}

// Combines the values of a block; every thread gets the result.
template <class T>
__device__ RV<T> block_allreduce(ReduceOp op, RV<T> r) {
  __shared__ typename Acc<T>::type sv[32];
  __shared__ int64_t si[32];
  r = warp_allreduce(op, r);
  const int warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
  if ((threadIdx.x & 31) == 0) {
    sv[warp] = r.v;
    si[warp] = r.i;
  }
  __syncthreads();
  RV<T> t{sv[0], si[0]};
  for (int w = 1; w < nwarps; ++w) t = combine(op, t, RV<T>{sv[w], si[w]});
  __syncthreads();  // the shared slots may be reused by the caller's next call
  return t;
}

// Block (row, s) reduces elements [s*seg, (s+1)*seg) of a row; with one split
// it writes the result, else a partial.
template <class T>
__global__ void __launch_bounds__(kThreads)
    reduce_rows_block(const T* x, T* out, int64_t* idx, RV<T>* partial, int64_t len, int64_t splits, int64_t seg,
                      ReduceOp op) {
  const int64_t r = blockIdx.x, s = blockIdx.y;
  const T* row = x + r * len;
  const int64_t begin = s * seg, end = min(len, begin + seg);
  RV<T> acc = empty_rv<T>(op);
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
    acc = combine(op, acc, RV<T>{typename Acc<T>::type(row[i]), i});
  acc = block_allreduce(op, acc);
  if (threadIdx.x == 0) {
    if (splits == 1) write_result(op, acc, out, idx, r);
    else partial[r * splits + s] = acc;
  }
}

// One warp per row combines that row's partials.
template <class T>
__global__ void __launch_bounds__(kThreads)
    reduce_partials(const RV<T>* partial, T* out, int64_t* idx, int64_t rows, int64_t splits, ReduceOp op) {
  const int lane = threadIdx.x & 31;
  const int64_t r = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (r >= rows) return;
  RV<T> acc = empty_rv<T>(op);
  for (int64_t s = lane; s < splits; s += 32) acc = combine(op, acc, partial[r * splits + s]);
  acc = warp_allreduce(op, acc);
  if (lane == 0) write_result(op, acc, out, idx, r);
}

// ---------------------------------------------------------------- softmax

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

template <class T, bool kBlock>
__global__ void __launch_bounds__(kThreads) softmax_rows(const T* x, T* out, int64_t rows, int64_t len, bool log) {
  using G = RowGroup<kBlock>;
  // Block mode: every thread of the block walks the same rows, so the
  // __syncthreads inside group_allreduce is reached by all of them.
  for (int64_t r = G::first(); r < rows; r += G::stride()) {
    const T* in = x + r * len;
    T* o = out + r * len;
    T m = -INFINITY;
    for (int64_t i = G::lane(); i < len; i += G::width()) m = MaxOp{}(m, in[i]);
    m = group_allreduce<kBlock>(m, MaxOp{});
    double s = 0;
    for (int64_t i = G::lane(); i < len; i += G::width()) s += exp(double(in[i] - m));
    s = group_allreduce<kBlock>(s, SumOp{});
    if (log) {
      const T lse = T(::log(s)) + m;
      for (int64_t i = G::lane(); i < len; i += G::width()) o[i] = in[i] - lse;
    } else {
      const T inv = T(1.0 / s);
      for (int64_t i = G::lane(); i < len; i += G::width()) o[i] = d_exp(in[i] - m) * inv;
    }
  }
}

template <class T, bool kBlock>
__global__ void __launch_bounds__(kThreads)
    softmax_backward_rows(const T* y, const T* dy, T* dx, int64_t rows, int64_t len, bool log) {
  using G = RowGroup<kBlock>;
  for (int64_t r = G::first(); r < rows; r += G::stride()) {
    const T* yr = y + r * len;
    const T* gr = dy + r * len;
    T* o = dx + r * len;
    double s = 0;
    if (log) {  // dx = dy - softmax * sum(dy)
      for (int64_t i = G::lane(); i < len; i += G::width()) s += gr[i];
      s = group_allreduce<kBlock>(s, SumOp{});
      for (int64_t i = G::lane(); i < len; i += G::width()) o[i] = gr[i] - d_exp(yr[i]) * T(s);
    } else {  // dx = y * (dy - sum(dy * y))
      for (int64_t i = G::lane(); i < len; i += G::width()) s += double(gr[i]) * yr[i];
      s = group_allreduce<kBlock>(s, SumOp{});
      for (int64_t i = G::lane(); i < len; i += G::width()) o[i] = yr[i] * (gr[i] - T(s));
    }
  }
}

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

// ---------------------------------------------------------------- layer norm

// One row per warp (or block, for long rows), as softmax; the arithmetic
// mirrors tensor/cpu/layer_norm.cpp: double row sums, two passes for the
// variance, the affine map in T.
template <class T, bool kBlock>
__global__ void __launch_bounds__(kThreads)
    layer_norm_rows(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t rows, int64_t len,
                    double eps) {
  using G = RowGroup<kBlock>;
  for (int64_t r = G::first(); r < rows; r += G::stride()) {
    const T* in = x + r * len;
    T* o = y + r * len;
    double s = 0;
    for (int64_t i = G::lane(); i < len; i += G::width()) s += double(in[i]);
    s = group_allreduce<kBlock>(s, SumOp{});
    const double m = s / double(len);
    double ss = 0;
    for (int64_t i = G::lane(); i < len; i += G::width()) {
      const double d = double(in[i]) - m;
      ss += d * d;
    }
    ss = group_allreduce<kBlock>(ss, SumOp{});
    const T mt = T(m), rt = T(1.0 / sqrt(ss / double(len) + eps));
    for (int64_t i = G::lane(); i < len; i += G::width()) {
      T v = (in[i] - mt) * rt;
      if (w) v = v * w[i];
      if (b) v = v + b[i];
      o[i] = v;
    }
    if (G::lane() == 0) {
      mean[r] = mt;
      rstd[r] = rt;
    }
  }
}

// dx of each row: rstd * (dy*w - mean(dy*w) - xhat * mean(dy*w*xhat)).
template <class T, bool kBlock>
__global__ void __launch_bounds__(kThreads)
    layer_norm_backward_rows(const T* dy, const T* x, const T* mean, const T* rstd, const T* w, T* dx, int64_t rows,
                             int64_t len) {
  using G = RowGroup<kBlock>;
  for (int64_t r = G::first(); r < rows; r += G::stride()) {
    const T* g = dy + r * len;
    const T* in = x + r * len;
    const T m = mean[r], rs = rstd[r];
    double a = 0, c = 0;
    for (int64_t i = G::lane(); i < len; i += G::width()) {
      const T gw = w ? g[i] * w[i] : g[i];
      a += double(gw);
      c += double(gw) * double((in[i] - m) * rs);
    }
    a = group_allreduce<kBlock>(a, SumOp{});
    c = group_allreduce<kBlock>(c, SumOp{});
    const T ka = T(a / double(len)), kc = T(c / double(len));
    T* o = dx + r * len;
    for (int64_t i = G::lane(); i < len; i += G::width()) {
      const T gw = w ? g[i] * w[i] : g[i];
      o[i] = rs * (gw - ka - (in[i] - m) * rs * kc);
    }
  }
}

// dw and db, summed over rows without atomics: block (j, p) sums rows
// [p*rows/P, (p+1)*rows/P) of 32 columns, 8 row lanes combined in a fixed
// order, into double partials; layer_norm_param_finalize adds the P partials
// of each column in order. The same bits on every run.
constexpr int kColsPerBlock = 32, kRowLanes = 8;

template <class T>
__global__ void __launch_bounds__(kColsPerBlock* kRowLanes)
    layer_norm_param_partials(const T* dy, const T* x, const T* mean, const T* rstd, double* partial, int64_t rows,
                              int64_t len, int64_t P) {
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t col = int64_t(blockIdx.x) * kColsPerBlock + tx, p = blockIdx.y;
  const int64_t begin = p * rows / P, end = (p + 1) * rows / P;
  double sw = 0, sb = 0;
  if (col < len)
    for (int64_t r = begin + ty; r < end; r += kRowLanes) {
      const T g = dy[r * len + col];
      sw += double(g) * double((x[r * len + col] - mean[r]) * rstd[r]);
      sb += double(g);
    }
  __shared__ double s_w[kRowLanes][kColsPerBlock], s_b[kRowLanes][kColsPerBlock];
  s_w[ty][tx] = sw;
  s_b[ty][tx] = sb;
  __syncthreads();
  if (ty == 0 && col < len) {
    for (int k = 1; k < kRowLanes; ++k) {
      sw += s_w[k][tx];
      sb += s_b[k][tx];
    }
    partial[(p * len + col) * 2] = sw;
    partial[(p * len + col) * 2 + 1] = sb;
  }
}

// Adds the P (a, b) pairs at pair indices first, first + step, ... in order:
// the fixed summation order that makes the two-pass sums deterministic.
__device__ inline void add_partial_pairs(const double* partial, int64_t first, int64_t step, int64_t P, double& a,
                                         double& b) {
  for (int64_t p = 0; p < P; ++p) {
    a += partial[(first + p * step) * 2];
    b += partial[(first + p * step) * 2 + 1];
  }
}

template <class T>
__global__ void layer_norm_param_finalize(const double* partial, T* dw, T* db, int64_t len, int64_t P) {
  const int64_t col = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= len) return;
  double sw = 0, sb = 0;
  add_partial_pairs(partial, col, len, P, sw, sb);
  if (dw) dw[col] = T(sw);
  if (db) db[col] = T(sb);
}

// sum_cols: block (j, p) adds rows [p*rows/P, (p+1)*rows/P) of 32 columns
// (the same tiling as layer_norm_param_partials), sum_cols_finalize the P
// partials of each column in order.
template <class T>
__global__ void __launch_bounds__(kColsPerBlock* kRowLanes)
    sum_cols_partials(const T* x, typename Acc<T>::type* partial, int64_t rows, int64_t cols, int64_t P) {
  using A = typename Acc<T>::type;
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t col = int64_t(blockIdx.x) * kColsPerBlock + tx, p = blockIdx.y;
  const int64_t begin = p * rows / P, end = (p + 1) * rows / P;
  A s = 0;
  if (col < cols)
    for (int64_t r = begin + ty; r < end; r += kRowLanes) s += A(x[r * cols + col]);
  __shared__ A sh[kRowLanes][kColsPerBlock];
  sh[ty][tx] = s;
  __syncthreads();
  if (ty == 0 && col < cols) {
    for (int k = 1; k < kRowLanes; ++k) s += sh[k][tx];
    partial[p * cols + col] = s;
  }
}

template <class T>
__global__ void sum_cols_finalize(const typename Acc<T>::type* partial, T* out, int64_t cols, int64_t P) {
  const int64_t col = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= cols) return;
  typename Acc<T>::type s = 0;
  for (int64_t p = 0; p < P; ++p) s += partial[p * cols + col];
  out[col] = T(s);
}

// ---------------------------------------------------------------- channel sums

enum class ChannelMode { moments, grad };

// Block (c, p) sums items [p*M/P, (p+1)*M/P) of channel c (M = N*S):
// moments: a = x - K, b = (x - K)^2 with K = the channel's first value;
// grad:    a = dy,    b = dy * (x - mean[c]).
template <class T, ChannelMode kMode>
__global__ void __launch_bounds__(kThreads)
    channel_partial_sums(const T* x, const T* dy, const T* mean, double* partial, int64_t C, int64_t S, int64_t M,
                         int64_t P) {
  const int64_t c = blockIdx.x, p = blockIdx.y;
  const int64_t begin = p * M / P, end = (p + 1) * M / P;
  const double ref = kMode == ChannelMode::moments ? double(x[c * S]) : double(mean[c]);
  double sa = 0, sb = 0;
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) {
    const int64_t n = j / S, i = j - n * S;
    const int64_t k = (n * C + c) * S + i;
    const double d = double(x[k]) - ref;
    if constexpr (kMode == ChannelMode::moments) {
      sa += d;
      sb += d * d;
    } else {
      const double g = double(dy[k]);
      sa += g;
      sb += g * d;
    }
  }
  sa = group_allreduce<true>(sa, SumOp{});
  sb = group_allreduce<true>(sb, SumOp{});
  if (threadIdx.x == 0) {
    partial[(c * P + p) * 2] = sa;
    partial[(c * P + p) * 2 + 1] = sb;
  }
}

template <class T, ChannelMode kMode>
__global__ void channel_finalize(const double* partial, const T* x, T* out_a, T* out_b, int64_t C, int64_t S,
                                 int64_t M, int64_t P) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double sa = 0, sb = 0;
  add_partial_pairs(partial, c * P, 1, P, sa, sb);
  if constexpr (kMode == ChannelMode::moments) {
    const double mean_shift = sa / double(M);
    const double var = sb / double(M) - mean_shift * mean_shift;
    out_a[c] = T(double(x[c * S]) + mean_shift);
    out_b[c] = T(var > 0 ? var : 0.0);
  } else {
    out_a[c] = T(sa);
    out_b[c] = T(sb);
  }
}

template <class T, ChannelMode kMode>
void channel_sums(CudaBackend& be, const Tensor& x, const Tensor* dy, const Tensor* mean, const Tensor& out_a,
                  const Tensor& out_b) {
  const int64_t N = x.size(0), C = out_a.numel();
  const int64_t S = N * C == 0 ? 0 : x.numel() / (N * C);
  const int64_t M = N * S;
  if (C == 0) return;
  if (M == 0) {  // no values: what the CPU loops leave (0/0 for moments, 0 for sums)
    be.fill(out_a, kMode == ChannelMode::moments ? NAN : 0.0);
    be.fill(out_b, kMode == ChannelMode::moments ? NAN : 0.0);
    return;
  }
  // Enough blocks to fill the GPU, each with at least 2048 values.
  const int64_t want = (int64_t(be.sm_count()) * 4 + C - 1) / C;
  const int64_t P = std::max<int64_t>(1, std::min<int64_t>({want, (M + 2047) / 2048, 65535}));
  Scratch partial(be, size_t(C * P * 2) * sizeof(double));
  MOCO_CHECK(C <= 2147483647, "channel sums (cuda): {} channels is too many", C);
  channel_partial_sums<T, kMode><<<dim3(unsigned(C), unsigned(P)), kThreads, 0, be.stream()>>>(
      dptr<T>(x), dy ? dptr<T>(*dy) : nullptr, mean ? dptr<T>(*mean) : nullptr, partial.as<double>(), C, S, M, P);
  MOCO_CUDA_CHECK_LAUNCH();
  channel_finalize<T, kMode><<<unsigned((C + 127) / 128), 128, 0, be.stream()>>>(
      partial.as<double>(), dptr<T>(x), dptr<T>(out_a), dptr<T>(out_b), C, S, M, P);
  MOCO_CUDA_CHECK_LAUNCH();
}

}  // namespace

void CudaBackend::reduce_rows(ReduceOp op, const Tensor& out, const Tensor* indices, const Tensor& x) {
  activate();
  const int64_t rows = out.numel();
  const int64_t len = rows == 0 ? 0 : x.numel() / rows;
  if (rows == 0) return;
  MOCO_CHECK(len > 0 || op == ReduceOp::sum, "max/min: cannot reduce over an empty dim");
  if (len == 0) {
    fill(out, 0);
    return;
  }
  MOCO_CHECK(x.is_contiguous(), "reduce_rows (cuda): the input must be contiguous");
  dispatch_all(x.dtype(), "reduce", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = dptr<T>(x);
    T* po = dptr<T>(out);
    int64_t* pi = indices ? dptr<int64_t>(*indices) : nullptr;
    if (len <= kWarpRowMax) {
      const int64_t rows_per_block = kThreads / 32;
      const int blocks = int(std::min<int64_t>((rows + rows_per_block - 1) / rows_per_block, int64_t(sm_count_) * 16));
      reduce_rows_warp<T><<<blocks, kThreads, 0, stream_>>>(px, po, pi, rows, len, op);
      MOCO_CUDA_CHECK_LAUNCH();
      return;
    }
    // Split long rows when there are too few rows to fill the GPU.
    int64_t splits = 1;
    if (rows < 2 * int64_t(sm_count_))
      splits = std::max<int64_t>(1, std::min<int64_t>({(len + 4095) / 4096, (4 * int64_t(sm_count_) + rows - 1) / rows,
                                                       1024}));
    const int64_t seg = (len + splits - 1) / splits;
    MOCO_CHECK(rows <= 2147483647, "reduce_rows (cuda): {} rows is too many", rows);
    if (splits == 1) {
      reduce_rows_block<T><<<dim3(unsigned(rows), 1), kThreads, 0, stream_>>>(px, po, pi, nullptr, len, 1, seg, op);
      MOCO_CUDA_CHECK_LAUNCH();
      return;
    }
    Scratch partial(*this, size_t(rows * splits) * sizeof(RV<T>));
    reduce_rows_block<T><<<dim3(unsigned(rows), unsigned(splits)), kThreads, 0, stream_>>>(
        px, po, pi, partial.as<RV<T>>(), len, splits, seg, op);
    MOCO_CUDA_CHECK_LAUNCH();
    const int64_t rows_per_block = kThreads / 32;
    reduce_partials<T><<<unsigned((rows + rows_per_block - 1) / rows_per_block), kThreads, 0, stream_>>>(
        partial.as<RV<T>>(), po, pi, rows, splits, op);
    MOCO_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::sum_cols(const Tensor& out, const Tensor& x) {
  activate();
  const int64_t cols = out.numel();
  const int64_t rows = cols == 0 ? 0 : x.numel() / cols;
  if (cols == 0) return;
  MOCO_CHECK(x.is_contiguous(), "sum_cols (cuda): the input must be contiguous");
  dispatch_all(x.dtype(), "sum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = typename Acc<T>::type;
    const int64_t col_blocks = (cols + kColsPerBlock - 1) / kColsPerBlock;
    MOCO_CHECK(col_blocks <= 2147483647, "sum_cols (cuda): rows of {} are too long", cols);
    // Enough blocks to fill the GPU, each with at least 8 rows per row lane.
    const int64_t want = (int64_t(sm_count_) * 4 + col_blocks - 1) / col_blocks;
    const int64_t P = std::max<int64_t>(1, std::min<int64_t>({want, (rows + 63) / 64, 65535}));
    Scratch partial(*this, size_t(P * cols) * sizeof(A));
    sum_cols_partials<T><<<dim3(unsigned(col_blocks), unsigned(P)), dim3(kColsPerBlock, kRowLanes), 0, stream_>>>(
        dptr<T>(x), partial.as<A>(), rows, cols, P);
    MOCO_CUDA_CHECK_LAUNCH();
    sum_cols_finalize<T><<<unsigned((cols + 127) / 128), 128, 0, stream_>>>(partial.as<A>(), dptr<T>(out), cols, P);
    MOCO_CUDA_CHECK_LAUNCH();
  });
}

void CudaBackend::softmax(const Tensor& out, const Tensor& x, bool log) {
  activate();
  const int64_t len = x.shape().back();
  const int64_t rows = len == 0 ? 0 : x.numel() / len;
  dispatch_float(x.dtype(), "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_rows<T>(*this, rows, len, softmax_rows<T, false>, softmax_rows<T, true>, dptr<T>(x), dptr<T>(out), rows,
                   len, log);
  });
}

void CudaBackend::softmax_backward(const Tensor& dx, const Tensor& y, const Tensor& dy, bool log) {
  activate();
  const int64_t len = y.shape().back();
  const int64_t rows = len == 0 ? 0 : y.numel() / len;
  dispatch_float(y.dtype(), "softmax_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_rows<T>(*this, rows, len, softmax_backward_rows<T, false>, softmax_backward_rows<T, true>, dptr<T>(y),
                   dptr<T>(dy), dptr<T>(dx), rows, len, log);
  });
}

void CudaBackend::channel_moments(const Tensor& x, const Tensor& mean, const Tensor& var) {
  activate();
  dispatch_float(x.dtype(), "channel_moments", [&](auto tag) {
    using T = typename decltype(tag)::type;
    channel_sums<T, ChannelMode::moments>(*this, x, nullptr, nullptr, mean, var);
  });
}

void CudaBackend::channel_grad_sums(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& sum_dy,
                                    const Tensor& sum_dy_xmu) {
  activate();
  dispatch_float(x.dtype(), "channel_grad_sums", [&](auto tag) {
    using T = typename decltype(tag)::type;
    channel_sums<T, ChannelMode::grad>(*this, x, &dy, &mean, sum_dy, sum_dy_xmu);
  });
}

void CudaBackend::layer_norm(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                             const Tensor& w, const Tensor& b, double eps) {
  activate();
  const int64_t rows = mean.numel();
  const int64_t len = rows == 0 ? 0 : x.numel() / rows;
  if (rows == 0 || len == 0) return;
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_rows<T>(*this, rows, len, layer_norm_rows<T, false>, layer_norm_rows<T, true>, dptr<T>(x),
                   w.defined() ? dptr<T>(w) : nullptr, b.defined() ? dptr<T>(b) : nullptr, dptr<T>(y),
                   dptr<T>(mean), dptr<T>(rstd), rows, len, eps);
  });
}

void CudaBackend::layer_norm_backward(const Tensor& dx, const Tensor& dw, const Tensor& db, const Tensor& dy,
                                      const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& w) {
  activate();
  const int64_t rows = mean.numel();
  const int64_t len = rows == 0 ? 0 : x.numel() / rows;
  if (len == 0) return;
  dispatch_float(x.dtype(), "layer_norm_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (dx.defined())
      launch_rows<T>(*this, rows, len, layer_norm_backward_rows<T, false>, layer_norm_backward_rows<T, true>,
                     dptr<T>(dy), dptr<T>(x), dptr<T>(mean), dptr<T>(rstd), w.defined() ? dptr<T>(w) : nullptr,
                     dptr<T>(dx), rows, len);
    if (!dw.defined() && !db.defined()) return;
    // Enough blocks to fill the GPU, each with at least 8 rows per row lane.
    const int64_t col_blocks = (len + kColsPerBlock - 1) / kColsPerBlock;
    MOCO_CHECK(col_blocks <= 2147483647, "layer_norm_backward (cuda): rows of {} are too long", len);
    const int64_t want = (int64_t(sm_count_) * 4 + col_blocks - 1) / col_blocks;
    const int64_t P = std::max<int64_t>(1, std::min<int64_t>({want, (rows + 63) / 64, 65535}));
    Scratch partial(*this, size_t(P * len * 2) * sizeof(double));
    layer_norm_param_partials<T><<<dim3(unsigned(col_blocks), unsigned(P)), dim3(kColsPerBlock, kRowLanes), 0,
                                   stream_>>>(dptr<T>(dy), dptr<T>(x), dptr<T>(mean), dptr<T>(rstd),
                                              partial.as<double>(), rows, len, P);
    MOCO_CUDA_CHECK_LAUNCH();
    layer_norm_param_finalize<T><<<unsigned((len + 127) / 128), 128, 0, stream_>>>(
        partial.as<double>(), dw.defined() ? dptr<T>(dw) : nullptr, db.defined() ? dptr<T>(db) : nullptr, len, P);
    MOCO_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace moco::cuda
