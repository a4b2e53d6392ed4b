// Indexing and joining: the MoCo queue (index_copy_), shuffle-BN
// (index_select with a permutation), labels (gather), cat/stack/split.
#include "autograd/engine.h"
#include "autograd/kernels.h"
#include "autograd/ops.h"

namespace moco {

using Grads = std::vector<Tensor>;

namespace {
Tensor contiguous_raw(const Tensor& t) {
  if (t.is_contiguous()) return t;
  Tensor c = Tensor::empty(t.shape(), t.dtype(), t.device());
  backend_for(t).copy(c, t);
  return c;
}

void check_index(const Tensor& index, const char* op) {
  MOCO_CHECK(index.dtype() == DType::i64, "{}: index must be int64, got {}", op, dtype_name(index.dtype()));
}

// gather/scatter need an index of x's rank whose other dims match x's.
void check_same_rank(const Tensor& x, const Tensor& index, int64_t dim, const char* op) {
  check_index(index, op);
  MOCO_CHECK(index.dim() == x.dim(), "{}: index {} must have the rank of the input {}", op, shape_str(index.shape()),
             shape_str(x.shape()));
  for (int64_t d = 0; d < x.dim(); ++d)
    MOCO_CHECK(d == dim || index.size(d) == x.size(d), "{}: index {} and input {} differ in dim {}", op,
               shape_str(index.shape()), shape_str(x.shape()), d);
}
}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_index(index, "index_select");
  MOCO_CHECK(index.dim() <= 1, "index_select: index must be 1-D, got {}", shape_str(index.shape()));
  k::same_device(x, index, "index_select");
  dim = wrap_dim(dim, x.dim(), "index_select");
  Shape s = x.shape();
  s[size_t(dim)] = index.numel();
  Tensor out = Tensor::empty(s, x.dtype(), x.device());
  Tensor idx = contiguous_raw(index);
  backend_for(x).index_select(out, contiguous_raw(x), dim, idx);
  record(out, "index_select", {x}, [shape = x.shape(), dim, idx](const Tensor& g) {
    Tensor gx = Tensor::zeros(shape, g.dtype(), g.device());
    backend_for(g).index_add(gx, dim, idx, contiguous_raw(g));
    return Grads{gx};
  });
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  dim = wrap_dim(dim, x.dim(), "gather");
  check_same_rank(x, index, dim, "gather");
  Tensor idx = contiguous_raw(index);
  Tensor out = Tensor::empty(index.shape(), x.dtype(), x.device());
  backend_for(x).gather(out, contiguous_raw(x), dim, idx);
  record(out, "gather", {x}, [shape = x.shape(), dim, idx](const Tensor& g) {
    Tensor gx = Tensor::zeros(shape, g.dtype(), g.device());
    backend_for(g).scatter_add(gx, dim, idx, contiguous_raw(g));
    return Grads{gx};
  });
  return out;
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  dim = wrap_dim(dim, x.dim(), "scatter_add");
  check_same_rank(x, index, dim, "scatter_add");
  MOCO_CHECK(src.shape() == index.shape(), "scatter_add: src {} must have the index's shape {}",
             shape_str(src.shape()), shape_str(index.shape()));
  Tensor idx = contiguous_raw(index);
  Tensor out = Tensor::empty_like(x);
  backend_for(x).copy(out, x);
  backend_for(x).scatter_add(out, dim, idx, contiguous_raw(src));
  record(out, "scatter_add", {x, src}, [dim, idx](const Tensor& g) { return Grads{g, gather(g, dim, idx)}; });
  return out;
}

void index_copy_(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_index(index, "index_copy_");
  MOCO_CHECK(!(GradMode::enabled() && x.requires_grad()), "index_copy_: in-place write into a tensor that requires grad");
  dim = wrap_dim(dim, x.dim(), "index_copy_");
  MOCO_CHECK(src.dim() == x.dim() && src.size(dim) == index.numel(),
             "index_copy_: src {} must match x {} with {} entries along dim {}", shape_str(src.shape()),
             shape_str(x.shape()), index.numel(), dim);
  std::vector<int64_t> idx = index.to_vector<int64_t>();
  NoGradGuard no_grad;
  for (size_t i = 0; i < idx.size(); ++i) {
    MOCO_CHECK(idx[i] >= 0 && idx[i] < x.size(dim), "index_copy_: index {} out of range for dim {} of size {}",
               idx[i], dim, x.size(dim));
    Tensor dst = x.select(dim, idx[i]);
    dst.copy_(src.select(dim, int64_t(i)));
  }
}

Tensor index_copy(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  dim = wrap_dim(dim, x.dim(), "index_copy");
  Tensor out = Tensor::empty_like(x);
  backend_for(x).copy(out, x);
  {
    NoGradGuard no_grad;
    index_copy_(out, dim, index, src.detach());
  }
  Tensor idx = contiguous_raw(index);
  record(out, "index_copy", {x, src}, [dim, idx](const Tensor& g) {
    Tensor gx = g.clone();
    index_copy_(gx, dim, idx, Tensor::zeros_like(index_select(g, dim, idx)));
    return Grads{gx, index_select(g, dim, idx)};
  });
  return out;
}

Tensor cat(const std::vector<Tensor>& xs, int64_t dim) {
  MOCO_CHECK(!xs.empty(), "cat: needs at least one tensor");
  const Tensor& first = xs[0];
  dim = wrap_dim(dim, first.dim(), "cat");
  Shape s = first.shape();
  int64_t total = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& t = xs[i];
    k::same_device(first, t, "cat");
    MOCO_CHECK(t.dtype() == first.dtype() && t.dim() == first.dim(), "cat: tensor {} has dtype {} and shape {}, "
               "expected dtype {} and rank {}", i, dtype_name(t.dtype()), shape_str(t.shape()),
               dtype_name(first.dtype()), first.dim());
    for (int64_t d = 0; d < t.dim(); ++d)
      MOCO_CHECK(d == dim || t.size(d) == first.size(d), "cat: tensor {} has shape {}, expected {} except in dim {}",
                 i, shape_str(t.shape()), shape_str(first.shape()), dim);
    total += t.size(dim);
  }
  s[size_t(dim)] = total;
  Tensor out = Tensor::empty(s, first.dtype(), first.device());
  std::vector<int64_t> sizes;
  int64_t off = 0;
  for (const Tensor& t : xs) {
    Shape st = out.strides();
    Shape sh = out.shape();
    sh[size_t(dim)] = t.size(dim);
    backend_for(out).copy(make_view(out, sh, st, off * out.strides()[size_t(dim)]), t);
    off += t.size(dim);
    sizes.push_back(t.size(dim));
  }
  record(out, "cat", xs, [sizes, dim](const Tensor& g) {
    Grads gs;
    int64_t o = 0;
    for (int64_t n : sizes) {
      gs.push_back(g.narrow(dim, o, n));
      o += n;
    }
    return gs;
  });
  return out;
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
  MOCO_CHECK(!xs.empty(), "stack: needs at least one tensor");
  dim = wrap_dim(dim, xs[0].dim() + 1, "stack");
  std::vector<Tensor> u;
  for (auto& t : xs) {
    MOCO_CHECK(t.shape() == xs[0].shape(), "stack: shapes differ: {} vs {}", shape_str(t.shape()),
               shape_str(xs[0].shape()));
    u.push_back(t.unsqueeze(dim));
  }
  return cat(u, dim);
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  MOCO_CHECK(split_size > 0, "split: split_size must be positive, got {}", split_size);
  dim = wrap_dim(dim, x.dim(), "split");
  std::vector<Tensor> parts;
  for (int64_t o = 0; o < x.size(dim); o += split_size)
    parts.push_back(x.narrow(dim, o, std::min(split_size, x.size(dim) - o)));
  return parts;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  MOCO_CHECK(chunks > 0, "chunk: chunks must be positive, got {}", chunks);
  const int64_t n = x.size(dim);
  return split(x, std::max<int64_t>(1, (n + chunks - 1) / chunks), dim);
}

}  // namespace moco
