// Reductions over any set of dims. The reduced dims are permuted to the back
// and each output element reduces one contiguous row.
#include "autograd/engine.h"
#include "autograd/kernels.h"
#include "autograd/ops.h"

namespace moco {

using Grads = std::vector<Tensor>;

namespace {
struct Plan {
  std::vector<int64_t> dims;  // normalised reduced dims
  Shape out_shape;            // without keepdim
  Shape keep_shape;           // with the reduced dims as 1
  int64_t len = 1;            // elements reduced per output
};

Plan plan(const Tensor& x, const std::vector<int64_t>& dims_in, const char* op) {
  Plan p;
  p.dims = normalize_dims(dims_in, x.dim(), op);
  p.keep_shape = x.shape();
  for (int64_t d = 0; d < x.dim(); ++d) {
    bool reduced = std::find(p.dims.begin(), p.dims.end(), d) != p.dims.end();
    if (reduced) {
      p.len *= x.shape()[size_t(d)];
      p.keep_shape[size_t(d)] = 1;
    } else {
      p.out_shape.push_back(x.shape()[size_t(d)]);
    }
  }
  return p;
}

// Runs the row reduction; returns values (and indices) with out_shape.
Tensor reduce_raw(ReduceOp op, const Tensor& x, const Plan& p, Tensor* indices) {
  // A sum over leading dims of contiguous data (a bias gradient summed over
  // the batch) reads the columns in place; the general path would first copy
  // a transpose of all of x.
  const int64_t k = int64_t(p.dims.size());
  if (op == ReduceOp::sum && k > 0 && k < x.dim() && p.dims.back() == k - 1 && x.is_contiguous()) {
    Tensor out = Tensor::empty(p.out_shape, x.dtype(), x.device());
    if (out.numel() == 0) return out;
    if (p.len == 0) return out.fill_(0);
    backend_for(x).sum_cols(out, x);
    return out;
  }
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (std::find(p.dims.begin(), p.dims.end(), d) == p.dims.end()) perm.push_back(d);
  perm.insert(perm.end(), p.dims.begin(), p.dims.end());
  Shape s, st;
  for (int64_t d : perm) {
    s.push_back(x.shape()[size_t(d)]);
    st.push_back(x.strides()[size_t(d)]);
  }
  Tensor xp = make_view(x, s, st, x.offset());
  if (!xp.is_contiguous()) {
    Tensor c = Tensor::empty(s, x.dtype(), x.device());
    backend_for(x).copy(c, xp);
    xp = c;
  }
  Tensor out = Tensor::empty(p.out_shape, x.dtype(), x.device());
  if (indices) *indices = Tensor::empty(p.out_shape, DType::i64, x.device());
  if (out.numel() == 0) return out;
  if (p.len == 0) {
    MOCO_CHECK(op == ReduceOp::sum, "max/min: cannot reduce over an empty dim (shape {})", shape_str(x.shape()));
    out.fill_(0);
    return out;
  }
  backend_for(x).reduce_rows(op, out, indices, xp);
  return out;
}

Tensor maybe_keep(const Tensor& t, const Plan& p, bool keepdim) {
  return keepdim ? make_view(t, p.keep_shape, contiguous_strides(p.keep_shape), t.offset()) : t;
}
}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  Plan p = plan(x, dims, "sum");
  Tensor out = maybe_keep(reduce_raw(ReduceOp::sum, x, p, nullptr), p, keepdim);
  record(out, "sum", {x}, [keep = p.keep_shape, shape = x.shape()](const Tensor& g) {
    return Grads{g.reshape(keep).expand(shape)};
  });
  return out;
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  Plan p = plan(x, dims, "mean");
  return mul(sum(x, dims, keepdim), 1.0 / double(std::max<int64_t>(p.len, 1)));
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, bool unbiased, bool keepdim) {
  Plan p = plan(x, dims, "var");
  MOCO_CHECK(!unbiased || p.len > 1, "var: unbiased variance needs at least 2 elements, got {}", p.len);
  Tensor centered = sub(x, mean(x, dims, true));
  return mul(sum(mul(centered, centered), dims, keepdim), 1.0 / double(unbiased ? p.len - 1 : p.len));
}

static Tensor extremum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, bool is_max) {
  const char* name = is_max ? "amax" : "amin";
  Plan p = plan(x, dims, name);
  Tensor out = maybe_keep(reduce_raw(is_max ? ReduceOp::max : ReduceOp::min, x, p, nullptr), p, keepdim);
  // Ties share the gradient evenly (as torch.amax).
  record(out, name, {x}, [keep = p.keep_shape, xd = x.detach(), od = out.detach()](const Tensor& g) {
    Tensor mask = eq(xd, od.reshape(keep));
    Tensor count = sum(mask, [&] {
      std::vector<int64_t> d;
      for (size_t i = 0; i < keep.size(); ++i)
        if (keep[i] == 1 && xd.shape()[i] != 1) d.push_back(int64_t(i));
      return d;
    }(), true);
    return Grads{div(mul(mask, g.reshape(keep)), count)};
  });
  return out;
}
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) { return extremum(x, dims, keepdim, true); }
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) { return extremum(x, dims, keepdim, false); }

std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  MOCO_CHECK(x.dim() > 0, "max: expects a tensor with at least one dim");
  dim = wrap_dim(dim, x.dim(), "max");
  Plan p = plan(x, {dim}, "max");
  Tensor idx;
  Tensor values = maybe_keep(reduce_raw(ReduceOp::max, x, p, &idx), p, keepdim);
  idx = maybe_keep(idx, p, keepdim);
  record(values, "max", {x}, [keep = p.keep_shape, shape = x.shape(), idx_keep = maybe_keep(idx, p, true), dim](
                                 const Tensor& g) {
    Tensor gi = Tensor::zeros(shape, g.dtype(), g.device());
    backend_for(g).scatter_add(gi, dim, idx_keep, g.reshape(keep).contiguous());
    return Grads{gi};
  });
  return {values, idx};
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  NoGradGuard no_grad;
  return max(x, dim, keepdim).second;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const int64_t lead = x.dim() - int64_t(shape.size());
  MOCO_CHECK(lead >= 0, "sum_to: cannot reduce shape {} to {}", shape_str(x.shape()), shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d < lead || (shape[size_t(d - lead)] == 1 && x.shape()[size_t(d)] != 1)) dims.push_back(d);
  if (dims.empty()) return x.reshape(shape);
  return sum(x, dims, true).reshape(shape);
}

}  // namespace moco
