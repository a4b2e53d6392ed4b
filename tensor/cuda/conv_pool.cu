// im2col/col2im for convolution and 2-D max/avg pooling, one thread per
// output element (tensor/cpu/conv_pool.cpp is the reference). The backward
// kernels gather: each input element sums the outputs whose window holds it,
// so they need no atomics and give the same sums on every run.
#include "tensor/cuda/strided.cuh"

namespace moco::cuda {

namespace {

constexpr int kThreads = 256;
using ConvGeom = Backend::ConvGeom;
using PoolGeom = Backend::PoolGeom;

// cols[r, y*ow + x] (rows col_ld apart) = img[c, iy, ix] or 0 in the padding.
template <class T>
__global__ void im2col_kernel(T* cols, const T* img, ConvGeom g, int64_t total) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  const int64_t L = g.oh * g.ow;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += step) {
    const int64_t r = k / L, p = k - r * L;
    const int64_t y = p / g.ow, x = p - y * g.ow;
    const int64_t c = r / (g.kh * g.kw), ki = (r / g.kw) % g.kh, kj = r % g.kw;
    const int64_t iy = y * g.sh - g.ph + ki * g.dh, ix = x * g.sw - g.pw + kj * g.dw;
    cols[r * g.col_ld + p] = (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W) ? img[(c * g.H + iy) * g.W + ix] : T(0);
  }
}

// img[c, iy, ix] += the column entries that im2col copied from it.
template <class T>
__global__ void col2im_kernel(T* img, const T* cols, ConvGeom g, int64_t total) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += step) {
    const int64_t ix = k % g.W, iy = (k / g.W) % g.H, c = k / (g.W * g.H);
    T sum = 0;
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      const int64_t ty = iy + g.ph - ki * g.dh;  // = y * sh
      if (ty < 0 || ty % g.sh != 0) continue;
      const int64_t y = ty / g.sh;
      if (y >= g.oh) continue;
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        const int64_t tx = ix + g.pw - kj * g.dw;
        if (tx < 0 || tx % g.sw != 0) continue;
        const int64_t x = tx / g.sw;
        if (x >= g.ow) continue;
        sum += cols[((c * g.kh + ki) * g.kw + kj) * g.col_ld + y * g.ow + x];
      }
    }
    img[k] += sum;
  }
}

template <class T>
__global__ void max_pool_kernel(T* out, int64_t* indices, const T* x, PoolGeom g, int64_t total) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += step) {
    const int64_t xo = k % g.ow, y = (k / g.ow) % g.oh, p = k / (g.ow * g.oh);
    const T* plane = x + p * g.H * g.W;
    T best = -INFINITY;
    int64_t bi = -1;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t iy = y * g.sh - g.ph + i;
      if (iy < 0 || iy >= g.H) continue;
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t ix = xo * g.sw - g.pw + j;
        if (ix < 0 || ix >= g.W) continue;
        const T v = plane[iy * g.W + ix];
        if (bi < 0 || v > best || d_isnan(v)) {
          best = v;
          bi = iy * g.W + ix;
        }
      }
    }
    out[k] = best;
    indices[k] = bi;
  }
}

// The outputs whose window [y*s - p, y*s - p + k) holds input position i.
struct OutRange {
  int64_t lo, hi;  // [lo, hi)
};
__device__ __forceinline__ OutRange windows_holding(int64_t i, int64_t pad, int64_t kernel, int64_t stride,
                                                    int64_t out_size) {
  // y*s - p <= i  and  i < y*s - p + k   <=>   (i + p - k) / s < y <= (i + p) / s
  const int64_t a = i + pad - kernel + 1;  // y >= ceil(a / s)
  int64_t lo = a <= 0 ? 0 : (a + stride - 1) / stride;
  int64_t hi = (i + pad) / stride + 1;
  if (hi > out_size) hi = out_size;
  return {lo, hi};
}

// dx[p, iy, ix] += sum of dy over the windows whose argmax is (iy, ix).
template <class T>
__global__ void max_pool_backward_kernel(T* dx, const T* dy, const int64_t* indices, PoolGeom g, int64_t total) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += step) {
    const int64_t ix = k % g.W, iy = (k / g.W) % g.H, p = k / (g.W * g.H);
    const OutRange ry = windows_holding(iy, g.ph, g.kh, g.sh, g.oh), rx = windows_holding(ix, g.pw, g.kw, g.sw, g.ow);
    const int64_t me = iy * g.W + ix;
    T sum = 0;
    for (int64_t y = ry.lo; y < ry.hi; ++y)
      for (int64_t x = rx.lo; x < rx.hi; ++x) {
        const int64_t o = (p * g.oh + y) * g.ow + x;
        if (indices[o] == me) sum += dy[o];
      }
    dx[k] += sum;
  }
}

// The window of output (y, x) clipped to the padded and to the real image (cpu::window).
struct Window {
  int64_t y0, y1, x0, x1, count;
};
__device__ __forceinline__ Window window_of(const PoolGeom& g, int64_t y, int64_t x) {
  int64_t y0 = y * g.sh - g.ph, x0 = x * g.sw - g.pw;
  int64_t y1 = min(y0 + g.kh, g.H + g.ph), x1 = min(x0 + g.kw, g.W + g.pw);
  const int64_t padded = (y1 - y0) * (x1 - x0);
  y0 = max(y0, int64_t(0));
  x0 = max(x0, int64_t(0));
  y1 = min(y1, g.H);
  x1 = min(x1, g.W);
  const int64_t c = g.count_include_pad ? padded : (y1 - y0) * (x1 - x0);
  return {y0, y1, x0, x1, c > 1 ? c : 1};
}

template <class T>
__global__ void avg_pool_kernel(T* out, const T* x, PoolGeom g, int64_t total) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += step) {
    const int64_t xo = k % g.ow, y = (k / g.ow) % g.oh, p = k / (g.ow * g.oh);
    const T* plane = x + p * g.H * g.W;
    const Window w = window_of(g, y, xo);
    double s = 0;
    for (int64_t iy = w.y0; iy < w.y1; ++iy)
      for (int64_t ix = w.x0; ix < w.x1; ++ix) s += plane[iy * g.W + ix];
    out[k] = T(s / double(w.count));
  }
}

template <class T>
__global__ void avg_pool_backward_kernel(T* dx, const T* dy, PoolGeom g, int64_t total) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += step) {
    const int64_t ix = k % g.W, iy = (k / g.W) % g.H, p = k / (g.W * g.H);
    const OutRange ry = windows_holding(iy, g.ph, g.kh, g.sh, g.oh), rx = windows_holding(ix, g.pw, g.kw, g.sw, g.ow);
    T sum = 0;
    for (int64_t y = ry.lo; y < ry.hi; ++y)
      for (int64_t x = rx.lo; x < rx.hi; ++x)
        sum += dy[(p * g.oh + y) * g.ow + x] / T(window_of(g, y, x).count);
    dx[k] += sum;
  }
}

template <class T, class K, class... Args>
void launch(const CudaBackend& be, K kernel, int64_t total, Args... args) {
  if (total == 0) return;
  kernel<<<be.blocks_for(total, kThreads), kThreads, 0, be.stream()>>>(args..., total);
  MOCO_CUDA_CHECK_LAUNCH();
}

}  // namespace

void CudaBackend::im2col(const Tensor& cols, const Tensor& img, const ConvGeom& g) {
  activate();
  dispatch_float(img.dtype(), "im2col", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t i = 0; i < g.images; ++i)  // conv2d itself runs on cuDNN; this serves the primitive
      launch<T>(*this, im2col_kernel<T>, g.C * g.kh * g.kw * g.oh * g.ow, dptr<T>(cols) + i * g.oh * g.ow,
                dptr<T>(img) + i * g.img_stride, g);
  });
}

void CudaBackend::col2im(const Tensor& img, const Tensor& cols, const ConvGeom& g) {
  activate();
  dispatch_float(img.dtype(), "col2im", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t i = 0; i < g.images; ++i)
      launch<T>(*this, col2im_kernel<T>, g.C * g.H * g.W, dptr<T>(img) + i * g.img_stride,
                dptr<T>(cols) + i * g.oh * g.ow, g);
  });
}

void CudaBackend::max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& x, const PoolGeom& g) {
  activate();
  dispatch_float(x.dtype(), "max_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch<T>(*this, max_pool_kernel<T>, g.N * g.C * g.oh * g.ow, dptr<T>(out), dptr<int64_t>(indices), dptr<T>(x),
              g);
  });
}

void CudaBackend::max_pool2d_backward(const Tensor& dx, const Tensor& dy, const Tensor& indices, const PoolGeom& g) {
  activate();
  dispatch_float(dx.dtype(), "max_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch<T>(*this, max_pool_backward_kernel<T>, g.N * g.C * g.H * g.W, dptr<T>(dx), dptr<T>(dy),
              dptr<int64_t>(indices), g);
  });
}

void CudaBackend::avg_pool2d(const Tensor& out, const Tensor& x, const PoolGeom& g) {
  activate();
  dispatch_float(x.dtype(), "avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch<T>(*this, avg_pool_kernel<T>, g.N * g.C * g.oh * g.ow, dptr<T>(out), dptr<T>(x), g);
  });
}

void CudaBackend::avg_pool2d_backward(const Tensor& dx, const Tensor& dy, const PoolGeom& g) {
  activate();
  dispatch_float(dx.dtype(), "avg_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch<T>(*this, avg_pool_backward_kernel<T>, g.N * g.C * g.H * g.W, dptr<T>(dx), dptr<T>(dy), g);
  });
}

}  // namespace moco::cuda
