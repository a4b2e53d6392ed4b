// Layer norm forward and backward (the CPU's twin: tensor/cpu/layer_norm.cpp).
#include "tensor/cuda/rows.cuh"

namespace moco::cuda {

namespace {

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

template <class T>
__global__ void layer_norm_param_finalize(const double* partial, T* dw, T* db, int64_t len, int64_t P) {
  const int64_t col = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= len) return;
  double sw = 0, sb = 0;
  add_partial_pairs(partial, col, len, P, sw, sb);
  if (dw) dw[col] = T(sw);
  if (db) db[col] = T(sb);
}

}  // namespace

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
