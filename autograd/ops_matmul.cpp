// Matrix products, as torch.matmul: 1-D operands are promoted, batch dims
// broadcast, and every product is one batched GEMM call.
#include "autograd/engine.h"
#include "autograd/kernels.h"
#include "autograd/ops.h"

namespace moco {

namespace {
// Views t (already expanded to batch + [rows, cols]) as [nb, rows, cols],
// copying only when the batch dims cannot be merged or the matrix layout is
// not one BLAS reads directly.
Tensor as_batched(const Tensor& t, int64_t nb, int64_t rows, int64_t cols) {
  Shape st;
  bool ok = view_strides(t.shape(), t.strides(), {nb, rows, cols}, st);
  if (ok) {
    // The layouts tensor/cpu/gemm.cpp (and cuBLAS) read without a copy.
    const bool row_major = st[2] == 1 && st[1] >= std::max<int64_t>(cols, 1);
    const bool col_major = st[1] == 1 && st[2] >= std::max<int64_t>(rows, 1);
    ok = row_major || col_major || (rows == 1 && st[2] >= 1) || (cols == 1 && st[1] >= 1);
  }
  if (ok) return make_view(t, {nb, rows, cols}, st, t.offset());
  Tensor c = Tensor::empty(t.shape(), t.dtype(), t.device());
  backend_for(t).copy(c, t);
  return make_view(c, {nb, rows, cols}, contiguous_strides({nb, rows, cols}), 0);
}

Tensor matmul_nd(const Tensor& a, const Tensor& b) {
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  MOCO_CHECK(b.size(-2) == K, "matmul: inner dims differ: {} @ {} ({} vs {})", shape_str(a.shape()),
             shape_str(b.shape()), K, b.size(-2));
  Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(ba, bb, "matmul (batch dims)");
  const int64_t nb = numel_of(batch);
  Shape sa = batch, sb = batch, so = batch;
  sa.insert(sa.end(), {M, K});
  sb.insert(sb.end(), {K, N});
  so.insert(so.end(), {M, N});
  Tensor out = Tensor::empty(so, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  if (K == 0) return out.fill_(0);
  Tensor a3 = as_batched(expand_view(a, sa), nb, M, K);
  Tensor b3 = as_batched(expand_view(b, sb), nb, K, N);
  Tensor o3 = make_view(out, {nb, M, N}, contiguous_strides({nb, M, N}), 0);
  backend_for(a).gemm(false, false, 1.0, a3, b3, 0.0, o3);
  return out;
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  k::same_device(a, b, "matmul");
  MOCO_CHECK(a.dtype() == b.dtype(), "matmul: dtype mismatch ({} and {})", dtype_name(a.dtype()), dtype_name(b.dtype()));
  MOCO_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both operands need at least 1 dim, got {} and {}",
             shape_str(a.shape()), shape_str(b.shape()));
  if (a.dim() == 1 && b.dim() == 1) {
    MOCO_CHECK(a.numel() == b.numel(), "matmul: dot product of sizes {} and {}", a.numel(), b.numel());
    return sum(mul(a, b));
  }
  if (b.dim() == 1) return matmul(a, b.unsqueeze(1)).squeeze(-1);
  if (a.dim() == 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  Tensor out = matmul_nd(a, b);
  bool ga = needs_grad({a}), gb = needs_grad({b});
  record(out, "matmul", {a, b},
         [ad = gb ? a.detach() : Tensor(), bd = ga ? b.detach() : Tensor(), sa = a.shape(), sb = b.shape()](
             const Tensor& g) {
           return std::vector<Tensor>{bd.defined() ? sum_to(matmul(g, bd.transpose(-1, -2)), sa) : Tensor(),
                                      ad.defined() ? sum_to(matmul(ad.transpose(-1, -2), g), sb) : Tensor()};
         });
  return out;
}

// y = x Wᵀ + b with its own backward: dW = gᵀ x comes out as [out, in]
// directly (through matmul and t() it would be [in, out], transposed by a
// copy), and db sums g over its leading dims in place.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  MOCO_CHECK(weight.dim() == 2, "linear: weight must be [out, in], got {}", shape_str(weight.shape()));
  MOCO_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), "linear: input {} does not end in in_features = {}",
             shape_str(x.shape()), weight.size(1));
  if (bias.defined()) {
    Shape ys = x.shape();
    ys.back() = weight.size(0);
    if (broadcast_shapes(ys, bias.shape(), "linear") != ys)  // a bias that broadcasts the output up: rare
      return add(matmul(x, weight.t()), bias);
  }
  Tensor y;
  {
    NoGradGuard no_grad;  // one node for the whole op, recorded below
    y = matmul(x, weight.t());
    if (bias.defined()) y = add(y, bias);
  }
  const bool gx = needs_grad({x}), gw = needs_grad({weight});
  const int64_t in = weight.size(1), out = weight.size(0);
  record(y, "linear", {x, weight, bias},
         [xd = gw ? x.detach() : Tensor(), wd = gx ? weight.detach() : Tensor(), in, out,
          bias_shape = bias.defined() ? std::optional<Shape>(bias.shape()) : std::nullopt](const Tensor& g) {
           Tensor dx = wd.defined() ? matmul(g, wd) : Tensor();
           Tensor dw = xd.defined() ? matmul(g.reshape({-1, out}).t(), xd.reshape({-1, in})) : Tensor();
           Tensor db = bias_shape ? sum_to(g, *bias_shape) : Tensor();
           return std::vector<Tensor>{dx, dw, db};
         });
  return y;
}

}  // namespace moco
