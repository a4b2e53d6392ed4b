// im2col/col2im for convolution, and 2-D max/avg pooling.
#include <algorithm>
#include <limits>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/loops.h"

namespace moco::cpu {

namespace {
// The output columns x in [lo, hi) of kernel column kj read input columns
// ix = ix0 + x * sw inside the image; the others read the zero padding.
// Splitting the row there takes the bounds test out of the inner loops, so
// that they vectorise (im2col/col2im were ~20% of a ResNet-18 step).
struct XRange {
  int64_t lo, hi, ix0;
};
XRange x_range(const Backend::ConvGeom& g, int64_t kj) {
  const int64_t ix0 = kj * g.dw - g.pw;
  int64_t lo = ix0 >= 0 ? 0 : (-ix0 + g.sw - 1) / g.sw;
  int64_t hi = g.W - 1 - ix0 < 0 ? 0 : (g.W - 1 - ix0) / g.sw + 1;
  lo = std::min(lo, g.ow);
  hi = std::max(lo, std::min(hi, g.ow));
  return {lo, hi, ix0};
}
}  // namespace

void CpuBackend::im2col(const Tensor& cols, const Tensor& img, const ConvGeom& g) {
  dispatch_float(img.dtype(), "im2col", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    using T = scalar_t;
    const T* pi = ptr<T>(img);
    T* pc = ptr<T>(cols);
    const int64_t rows = g.C * g.kh * g.kw, L = g.oh * g.ow;
#pragma omp parallel for schedule(static) if (g.images * rows * L > kParallelGrain)
    for (int64_t ir = 0; ir < g.images * rows; ++ir) {
      const int64_t i = ir / rows, r = ir % rows;
      const int64_t c = r / (g.kh * g.kw), ki = (r / g.kw) % g.kh, kj = r % g.kw;
      T* out = pc + r * g.col_ld + i * L;
      const T* plane = pi + i * g.img_stride + c * g.H * g.W;
      const XRange xr = x_range(g, kj);
      for (int64_t y = 0; y < g.oh; ++y) {
        const int64_t iy = y * g.sh - g.ph + ki * g.dh;
        T* orow = out + y * g.ow;
        if (iy < 0 || iy >= g.H) {
          for (int64_t x = 0; x < g.ow; ++x) orow[x] = 0;
          continue;
        }
        const T* irow = plane + iy * g.W;
        const int64_t ix0 = xr.ix0;
        for (int64_t x = 0; x < xr.lo; ++x) orow[x] = 0;
        if (g.sw == 1) {
          for (int64_t x = xr.lo; x < xr.hi; ++x) orow[x] = irow[ix0 + x];
        } else {
          for (int64_t x = xr.lo; x < xr.hi; ++x) orow[x] = irow[ix0 + x * g.sw];
        }
        for (int64_t x = xr.hi; x < g.ow; ++x) orow[x] = 0;
      }
    }
  });
}

void CpuBackend::col2im(const Tensor& img, const Tensor& cols, const ConvGeom& g) {
  dispatch_float(img.dtype(), "col2im", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    using T = scalar_t;
    T* pi = ptr<T>(img);
    const T* pc = ptr<T>(cols);
    const int64_t L = g.oh * g.ow;
    // One thread per (image, input channel): the kernel offsets of a channel overlap.
#pragma omp parallel for schedule(static) if (g.images * g.C * g.kh * g.kw * L > kParallelGrain)
    for (int64_t ic = 0; ic < g.images * g.C; ++ic) {
      const int64_t i = ic / g.C, c = ic % g.C;
      T* plane = pi + i * g.img_stride + c * g.H * g.W;
      for (int64_t ki = 0; ki < g.kh; ++ki)
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          const T* in = pc + ((c * g.kh + ki) * g.kw + kj) * g.col_ld + i * L;
          const XRange xr = x_range(g, kj);
          for (int64_t y = 0; y < g.oh; ++y) {
            const int64_t iy = y * g.sh - g.ph + ki * g.dh;
            if (iy < 0 || iy >= g.H) continue;
            T* irow = plane + iy * g.W;
            const T* crow = in + y * g.ow;
            const int64_t ix0 = xr.ix0;
            if (g.sw == 1) {
              for (int64_t x = xr.lo; x < xr.hi; ++x) irow[ix0 + x] += crow[x];
            } else {
              for (int64_t x = xr.lo; x < xr.hi; ++x) irow[ix0 + x * g.sw] += crow[x];
            }
          }
        }
    }
  });
}

void CpuBackend::max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& x, const PoolGeom& g) {
  dispatch_float(x.dtype(), "max_pool2d", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    using T = scalar_t;
    const T* px = ptr<T>(x);
    T* po = ptr<T>(out);
    int64_t* pi = ptr<int64_t>(indices);
#pragma omp parallel for schedule(static) if (x.numel() > kParallelGrain)
    for (int64_t p = 0; p < g.N * g.C; ++p) {
      const T* plane = px + p * g.H * g.W;
      for (int64_t y = 0; y < g.oh; ++y)
        for (int64_t xo = 0; xo < g.ow; ++xo) {
          T best = -std::numeric_limits<T>::infinity();
          int64_t bi = -1;
          for (int64_t i = 0; i < g.kh; ++i) {
            const int64_t iy = y * g.sh - g.ph + i;
            if (iy < 0 || iy >= g.H) continue;
            for (int64_t j = 0; j < g.kw; ++j) {
              const int64_t ix = xo * g.sw - g.pw + j;
              if (ix < 0 || ix >= g.W) continue;
              const T v = plane[iy * g.W + ix];
              if (bi < 0 || v > best || std::isnan(v)) {
                best = v;
                bi = iy * g.W + ix;
              }
            }
          }
          po[(p * g.oh + y) * g.ow + xo] = best;
          pi[(p * g.oh + y) * g.ow + xo] = bi;
        }
    }
  });
}

void CpuBackend::max_pool2d_backward(const Tensor& dx, const Tensor& dy, const Tensor& indices, const PoolGeom& g) {
  dispatch_float(dx.dtype(), "max_pool2d_backward", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    using T = scalar_t;
    T* pdx = ptr<T>(dx);
    const T* pdy = ptr<T>(dy);
    const int64_t* pi = ptr<int64_t>(indices);
#pragma omp parallel for schedule(static) if (dx.numel() > kParallelGrain)
    for (int64_t p = 0; p < g.N * g.C; ++p)
      for (int64_t k = 0; k < g.oh * g.ow; ++k) {
        const int64_t i = pi[p * g.oh * g.ow + k];
        if (i >= 0) pdx[p * g.H * g.W + i] += pdy[p * g.oh * g.ow + k];
      }
  });
}

namespace {
// The window of output (y, x) clipped to the padded and to the real image.
struct Window {
  int64_t y0, y1, x0, x1, padded_count;
};
Window window(const Backend::PoolGeom& g, int64_t y, int64_t x) {
  int64_t y0 = y * g.sh - g.ph, x0 = x * g.sw - g.pw;
  int64_t y1 = std::min(y0 + g.kh, g.H + g.ph), x1 = std::min(x0 + g.kw, g.W + g.pw);
  const int64_t padded = (y1 - y0) * (x1 - x0);
  y0 = std::max<int64_t>(y0, 0);
  x0 = std::max<int64_t>(x0, 0);
  y1 = std::min(y1, g.H);
  x1 = std::min(x1, g.W);
  return {y0, y1, x0, x1, g.count_include_pad ? padded : (y1 - y0) * (x1 - x0)};
}
}  // namespace

void CpuBackend::avg_pool2d(const Tensor& out, const Tensor& x, const PoolGeom& g) {
  dispatch_float(x.dtype(), "avg_pool2d", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    using T = scalar_t;
    const T* px = ptr<T>(x);
    T* po = ptr<T>(out);
#pragma omp parallel for schedule(static) if (x.numel() > kParallelGrain)
    for (int64_t p = 0; p < g.N * g.C; ++p) {
      const T* plane = px + p * g.H * g.W;
      for (int64_t y = 0; y < g.oh; ++y)
        for (int64_t xo = 0; xo < g.ow; ++xo) {
          const Window w = window(g, y, xo);
          double s = 0;
          for (int64_t iy = w.y0; iy < w.y1; ++iy)
            for (int64_t ix = w.x0; ix < w.x1; ++ix) s += plane[iy * g.W + ix];
          po[(p * g.oh + y) * g.ow + xo] = T(s / double(std::max<int64_t>(w.padded_count, 1)));
        }
    }
  });
}

void CpuBackend::avg_pool2d_backward(const Tensor& dx, const Tensor& dy, const PoolGeom& g) {
  dispatch_float(dx.dtype(), "avg_pool2d_backward", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    using T = scalar_t;
    T* pdx = ptr<T>(dx);
    const T* pdy = ptr<T>(dy);
#pragma omp parallel for schedule(static) if (dx.numel() > kParallelGrain)
    for (int64_t p = 0; p < g.N * g.C; ++p) {
      T* plane = pdx + p * g.H * g.W;
      for (int64_t y = 0; y < g.oh; ++y)
        for (int64_t xo = 0; xo < g.ow; ++xo) {
          const Window w = window(g, y, xo);
          const T v = pdy[(p * g.oh + y) * g.ow + xo] / T(std::max<int64_t>(w.padded_count, 1));
          for (int64_t iy = w.y0; iy < w.y1; ++iy)
            for (int64_t ix = w.x0; ix < w.x1; ++ix) plane[iy * g.W + ix] += v;
        }
    }
  });
}

}  // namespace moco::cpu
