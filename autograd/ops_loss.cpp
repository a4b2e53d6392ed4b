// Cross-entropy and L2 normalisation, composed from primitive ops so their
// gradients follow from the pieces'.
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

Tensor normalize(const Tensor& x, int64_t dim, double eps) {
  Tensor norm = sqrt(sum(mul(x, x), {dim}, true));
  return div(x, clamp_min(norm, eps));
}

}  // namespace moco
