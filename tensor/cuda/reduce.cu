// Row and column reductions and softmax.
//
// reduce_rows: short rows get one warp each; long rows one block, or several
// blocks writing partial results that a second kernel combines (so a single
// long row still spreads over the GPU). Sums accumulate in double (int64 for
// int64), as the CPU backend does. max/min pick exactly the CPU's element: the
// first NaN if there is one, else the first maximum (ties go to the lower
// index, whatever order the threads combine in).
//
// sum_cols: the columns' partial sums in a fixed order (rows.cuh), the same
// bits on every run. softmax: one warp per row, or one block for long rows.
#include "tensor/cuda/rows.cuh"

namespace moco::cuda {

namespace {

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

}  // namespace moco::cuda
