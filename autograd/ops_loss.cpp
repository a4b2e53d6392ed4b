// Cross-entropy and L2 normalisation, composed from primitive ops so their
// gradients follow from the pieces' (the norm has its own, for the zero vector).
#include "autograd/engine.h"
#include "autograd/kernels.h"
#include "autograd/ops.h"

namespace moco {

Tensor cross_entropy(const Tensor& logits, const Tensor& target, double label_smoothing) {
  MOCO_CHECK(logits.dim() == 2, "cross_entropy: logits must be [N, C], got {}", shape_str(logits.shape()));
  MOCO_CHECK(target.dtype() == DType::i64, "cross_entropy: target must be int64 class indices, got {}",
             dtype_name(target.dtype()));
  MOCO_CHECK(target.dim() == 1 && target.size(0) == logits.size(0),
             "cross_entropy: target {} must be [N] with N = {} (logits {})", shape_str(target.shape()),
             logits.size(0), shape_str(logits.shape()));
  MOCO_CHECK(label_smoothing >= 0 && label_smoothing <= 1, "cross_entropy: label_smoothing {} not in [0, 1]",
             label_smoothing);
  const int64_t C = logits.size(1);
  {
    auto t = target.to_vector<int64_t>();
    for (size_t i = 0; i < t.size(); ++i)
      MOCO_CHECK(t[i] >= 0 && t[i] < C, "cross_entropy: target[{}] = {} is not a class in [0, {})", i, t[i], C);
  }
  Tensor logp = log_softmax(logits, 1);
  Tensor nll = neg(gather(logp, 1, target.unsqueeze(1)));  // [N, 1]
  if (label_smoothing == 0) return mean(nll);
  // PyTorch: (1-eps) * nll + eps * mean over classes of -log p.
  Tensor smooth = neg(mean(logp, {1}, true));
  return mean(add(mul(nll, 1 - label_smoothing), mul(smooth, label_smoothing)));
}

// ||x||_2 along dim (kept). Composed from sqrt, its gradient at an all-zero
// vector would be 0 * (1 / 0) = NaN; PyTorch's norm gives 0 there, and so do we:
// d||x||/dx = x / ||x||, and x is 0 wherever ||x|| is.
static Tensor l2_norm(const Tensor& x, int64_t dim) {
  Tensor n;
  {
    NoGradGuard no_grad;
    n = sqrt(sum(mul(x, x), {dim}, true));
  }
  record(n, "l2_norm", {x}, [xd = x.detach(), nd = n.detach()](const Tensor& g) {
    const double smallest_normal = nd.dtype() == DType::f64 ? 2.2250738585072014e-308 : 1.1754943508222875e-38;
    return std::vector<Tensor>{mul(g, div(xd, clamp_min(nd, smallest_normal)))};
  });
  return n;
}

Tensor normalize(const Tensor& x, int64_t dim, double eps) {
  return div(x, clamp_min(l2_norm(x, wrap_dim(dim, x.dim(), "normalize")), eps));
}

}  // namespace moco
