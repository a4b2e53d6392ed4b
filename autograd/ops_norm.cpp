// Batch norm and layer norm on fused normalisation kernels.
#include "autograd/engine.h"
#include "autograd/kernels.h"
#include "autograd/ops.h"

namespace moco {

// Batch norm over all dims but 1, on fused per-channel kernels: one pass for
// the statistics, one for the output; backward needs two per-channel sums
// and one more pass. Saves the input, mean and 1/std, as PyTorch does.
Tensor batch_norm(const Tensor& x_in, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  MOCO_CHECK(x_in.dim() >= 2, "batch_norm: input must be [N, C, ...], got {}", shape_str(x_in.shape()));
  const int64_t C = x_in.size(1);
  for (const Tensor* t : {&running_mean, &running_var, &weight, &bias})
    if (t->defined()) {
      MOCO_CHECK(t->dim() == 1 && t->size(0) == C, "batch_norm: parameters and statistics must be [{}], got {}", C,
                 shape_str(t->shape()));
      MOCO_CHECK(t->dtype() == x_in.dtype(), "batch_norm: parameter dtype {} differs from input dtype {}",
                 dtype_name(t->dtype()), dtype_name(x_in.dtype()));
    }
  const int64_t count = x_in.numel() / std::max<int64_t>(C, 1);
  Backend& be = backend_for(x_in);
  Tensor x = x_in.detach().contiguous();
  Tensor mu, var;
  if (training) {
    MOCO_CHECK(count > 1, "batch_norm: training needs more than 1 value per channel, got input {}",
               shape_str(x_in.shape()));
    mu = Tensor::empty({C}, x.dtype(), x.device());
    var = Tensor::empty({C}, x.dtype(), x.device());
    be.channel_moments(x, mu, var);
  } else {
    MOCO_CHECK(running_mean.defined() && running_var.defined(),
               "batch_norm: evaluation mode needs running statistics (track_running_stats)");
    mu = running_mean.detach().contiguous();
    var = running_var.detach().contiguous();
  }
  Tensor invstd, scale, shift, w = weight.defined() ? weight.detach() : Tensor();
  {
    NoGradGuard no_grad;  // the [C]-sized arithmetic here is part of this op, not of the graph
    if (training && running_mean.defined()) {
      running_mean.mul_(1 - momentum).add_(mu, momentum);
      running_var.mul_(1 - momentum).add_(var, momentum * double(count) / double(count - 1));  // unbiased
    }
    invstd = rsqrt(add(var, eps));
    scale = w.defined() ? mul(invstd, w) : invstd;
    shift = neg(mul(mu, scale));
    if (bias.defined()) shift = add(shift, bias.detach());
  }
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  be.channel_affine(y, x, scale, shift, Tensor(), Tensor());
  const bool has_bias = bias.defined();
  record(y, "batch_norm", {x_in, weight, bias}, [=](const Tensor& g_in) {
    Backend& b = backend_for(g_in);
    Tensor g = g_in.contiguous();
    Tensor sum_dy = Tensor::empty({C}, x.dtype(), x.device()), sum_dy_xmu = Tensor::empty({C}, x.dtype(), x.device());
    b.channel_grad_sums(g, x, mu, sum_dy, sum_dy_xmu);
    Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
    if (training) {
      // dx = scale * (dy - sum_dy/M - (x - mean) * invstd^2 * sum_dy_xmu/M)
      const double inv_m = 1.0 / double(count);
      Tensor k = mul(mul(mul(invstd, invstd), sum_dy_xmu), inv_m);  // per channel
      Tensor coef_x = neg(mul(scale, k));
      Tensor shift_dx = sub(mul(mul(scale, k), mu), mul(mul(scale, sum_dy), inv_m));
      b.channel_affine(dx, g, scale, shift_dx, x, coef_x);
    } else {
      b.channel_affine(dx, g, scale, Tensor::zeros({C}, x.dtype(), x.device()), Tensor(), Tensor());
    }
    Tensor dw = w.defined() ? mul(sum_dy_xmu, invstd) : Tensor();
    Tensor db = has_bias ? sum_dy : Tensor();
    return std::vector<Tensor>{dx, dw, db};
  });
  return y;
}

// Layer norm over the last normalized_ndim dims on two fused kernels (rows ×
// the product of those dims): the forward saves each row's mean and 1/std,
// the backward gives dx, dw and db in one pass. Saves the input, as PyTorch.
Tensor layer_norm(const Tensor& x_in, int64_t normalized_ndim, const Tensor& weight, const Tensor& bias, double eps) {
  MOCO_CHECK(normalized_ndim >= 1 && normalized_ndim <= x_in.dim(),
             "layer_norm: cannot normalise the last {} dims of a tensor with {}", normalized_ndim, x_in.dim());
  const Shape norm_shape(x_in.shape().end() - normalized_ndim, x_in.shape().end());
  for (const Tensor* t : {&weight, &bias})
    if (t->defined()) {
      MOCO_CHECK(t->shape() == norm_shape, "layer_norm: weight/bias must be {}, got {}", shape_str(norm_shape),
                 shape_str(t->shape()));
      MOCO_CHECK(t->dtype() == x_in.dtype(), "layer_norm: parameter dtype {} differs from input dtype {}",
                 dtype_name(t->dtype()), dtype_name(x_in.dtype()));
      k::same_device(*t, x_in, "layer_norm");
    }
  int64_t rows = 1;
  for (int64_t d = 0; d < x_in.dim() - normalized_ndim; ++d) rows *= x_in.size(d);
  Backend& be = backend_for(x_in);
  Tensor x = x_in.detach().contiguous();
  Tensor w = weight.defined() ? weight.detach().contiguous() : Tensor();
  Tensor b = bias.defined() ? bias.detach().contiguous() : Tensor();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mu = Tensor::empty({rows}, x.dtype(), x.device()), rstd = Tensor::empty({rows}, x.dtype(), x.device());
  if (x.numel() > 0) be.layer_norm(y, mu, rstd, x, w, b, eps);
  const bool grad_w = weight.defined() && weight.requires_grad(), grad_b = bias.defined() && bias.requires_grad();
  record(y, "layer_norm", {x_in, weight, bias}, [=](const Tensor& g) {
    Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
    Tensor dw = grad_w ? Tensor::zeros(norm_shape, x.dtype(), x.device()) : Tensor();
    Tensor db = grad_b ? Tensor::zeros(norm_shape, x.dtype(), x.device()) : Tensor();
    if (x.numel() > 0) backend_for(x).layer_norm_backward(dx, dw, db, g.contiguous(), x, mu, rstd, w);
    return std::vector<Tensor>{dx, dw, db};
  });
  return y;
}

}  // namespace moco
