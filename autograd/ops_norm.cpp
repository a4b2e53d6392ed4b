// Batch norm and layer norm, composed from reductions and elementwise ops.
#include "autograd/engine.h"
#include "autograd/kernels.h"
#include "autograd/ops.h"

namespace moco {

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  MOCO_CHECK(x.dim() >= 2, "batch_norm: input must be [N, C, ...], got {}", shape_str(x.shape()));
  const int64_t C = x.size(1);
  for (const Tensor* t : {&running_mean, &running_var, &weight, &bias})
    if (t->defined())
      MOCO_CHECK(t->dim() == 1 && t->size(0) == C, "batch_norm: parameters and statistics must be [{}], got {}", C,
                 shape_str(t->shape()));
  Shape bshape(size_t(x.dim()), 1);  // [1, C, 1, 1] for broadcasting
  bshape[1] = C;
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != 1) dims.push_back(d);
  const int64_t count = x.numel() / std::max<int64_t>(C, 1);

  Tensor mu, inv_std;
  if (training) {
    MOCO_CHECK(count > 1, "batch_norm: training needs more than 1 value per channel, got input {}",
               shape_str(x.shape()));
    mu = mean(x, dims, true);
    Tensor centered = sub(x, mu);
    Tensor var_b = mean(mul(centered, centered), dims, true);
    inv_std = rsqrt(add(var_b, eps));
    if (running_mean.defined()) {
      NoGradGuard no_grad;
      running_mean.mul_(1 - momentum).add_(mu.reshape({C}), momentum);
      running_var.mul_(1 - momentum).add_(var_b.reshape({C}), momentum * double(count) / double(count - 1));
    }
    Tensor y = mul(centered, inv_std);
    if (weight.defined()) y = mul(y, weight.reshape(bshape));
    if (bias.defined()) y = add(y, bias.reshape(bshape));
    return y;
  }
  MOCO_CHECK(running_mean.defined() && running_var.defined(),
             "batch_norm: evaluation mode needs running statistics (track_running_stats)");
  mu = running_mean.reshape(bshape);
  inv_std = rsqrt(add(running_var.reshape(bshape), eps));
  Tensor y = mul(sub(x, mu), inv_std);
  if (weight.defined()) y = mul(y, weight.reshape(bshape));
  if (bias.defined()) y = add(y, bias.reshape(bshape));
  return y;
}

Tensor layer_norm(const Tensor& x, int64_t normalized_ndim, const Tensor& weight, const Tensor& bias, double eps) {
  MOCO_CHECK(normalized_ndim >= 1 && normalized_ndim <= x.dim(),
             "layer_norm: cannot normalise the last {} dims of a tensor with {}", normalized_ndim, x.dim());
  Shape norm_shape(x.shape().end() - normalized_ndim, x.shape().end());
  for (const Tensor* t : {&weight, &bias})
    if (t->defined())
      MOCO_CHECK(t->shape() == norm_shape, "layer_norm: weight/bias must be {}, got {}", shape_str(norm_shape),
                 shape_str(t->shape()));
  std::vector<int64_t> dims;
  for (int64_t d = x.dim() - normalized_ndim; d < x.dim(); ++d) dims.push_back(d);
  Tensor centered = sub(x, mean(x, dims, true));
  Tensor y = mul(centered, rsqrt(add(mean(mul(centered, centered), dims, true), eps)));
  if (weight.defined()) y = mul(y, weight);
  if (bias.defined()) y = add(y, bias);
  return y;
}

}  // namespace moco
