// Indexing kernels. Tensors are viewed as [outer, size along dim, inner].
#include "tensor/cpu/cpu_backend.h"

namespace moco::cpu {

namespace {
struct Split3 {
  int64_t outer, mid, inner;
};
Split3 split3(const Shape& s, int64_t dim) {
  Split3 r{1, s.empty() ? 1 : s[dim], 1};
  for (int64_t i = 0; i < dim; ++i) r.outer *= s[i];
  for (size_t i = dim + 1; i < s.size(); ++i) r.inner *= s[i];
  return r;
}
void check_index(int64_t v, int64_t size, const char* op) {
  MOCO_CHECK(v >= 0 && v < size, "{}: index {} out of range for a dim of size {}", op, v, size);
}
}  // namespace

void CpuBackend::index_select(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  const Split3 sx = split3(x.shape(), dim);
  const int64_t n = index.numel();
  const int64_t* idx = ptr<int64_t>(index);
  for (int64_t j = 0; j < n; ++j) check_index(idx[j], sx.mid, "index_select");
  dispatch_all(x.dtype(), "index_select", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    const scalar_t* px = ptr<scalar_t>(x);
    scalar_t* po = ptr<scalar_t>(out);
#pragma omp parallel for collapse(2) if (out.numel() > 32768)
    for (int64_t o = 0; o < sx.outer; ++o)
      for (int64_t j = 0; j < n; ++j) {
        const scalar_t* src = px + (o * sx.mid + idx[j]) * sx.inner;
        scalar_t* dst = po + (o * n + j) * sx.inner;
        for (int64_t i = 0; i < sx.inner; ++i) dst[i] = src[i];
      }
  });
}

void CpuBackend::index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const Split3 so = split3(out.shape(), dim);
  const int64_t n = index.numel();
  const int64_t* idx = ptr<int64_t>(index);
  for (int64_t j = 0; j < n; ++j) check_index(idx[j], so.mid, "index_add");
  dispatch_all(out.dtype(), "index_add", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    const scalar_t* ps = ptr<scalar_t>(src);
    scalar_t* po = ptr<scalar_t>(out);
    // Repeated indices add up, so rows of one outer slice stay on one thread.
#pragma omp parallel for if (src.numel() > 32768)
    for (int64_t o = 0; o < so.outer; ++o)
      for (int64_t j = 0; j < n; ++j) {
        const scalar_t* s = ps + (o * n + j) * so.inner;
        scalar_t* d = po + (o * so.mid + idx[j]) * so.inner;
        for (int64_t i = 0; i < so.inner; ++i) d[i] += s[i];
      }
  });
}

void CpuBackend::gather(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  const Split3 sx = split3(x.shape(), dim);
  const Split3 si = split3(index.shape(), dim);
  const int64_t* idx = ptr<int64_t>(index);
  dispatch_all(x.dtype(), "gather", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    const scalar_t* px = ptr<scalar_t>(x);
    scalar_t* po = ptr<scalar_t>(out);
    for (int64_t o = 0; o < si.outer; ++o)
      for (int64_t j = 0; j < si.mid; ++j)
        for (int64_t i = 0; i < si.inner; ++i) {
          const int64_t k = (o * si.mid + j) * si.inner + i;
          check_index(idx[k], sx.mid, "gather");
          po[k] = px[(o * sx.mid + idx[k]) * sx.inner + i];
        }
  });
}

void CpuBackend::scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const Split3 so = split3(out.shape(), dim);
  const Split3 si = split3(index.shape(), dim);
  const int64_t* idx = ptr<int64_t>(index);
  dispatch_all(out.dtype(), "scatter_add", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    const scalar_t* ps = ptr<scalar_t>(src);
    scalar_t* po = ptr<scalar_t>(out);
    for (int64_t o = 0; o < si.outer; ++o)
      for (int64_t j = 0; j < si.mid; ++j)
        for (int64_t i = 0; i < si.inner; ++i) {
          const int64_t k = (o * si.mid + j) * si.inner + i;
          check_index(idx[k], so.mid, "scatter_add");
          po[(o * so.mid + idx[k]) * so.inner + i] += ps[k];
        }
  });
}

}  // namespace moco::cpu
