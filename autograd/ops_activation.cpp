// Activations and softmax: forward and backward side by side.
#include "autograd/engine.h"
#include "autograd/kernels.h"
#include "autograd/ops.h"

namespace moco {

using Grads = std::vector<Tensor>;

Tensor relu(const Tensor& x) {
  Tensor out = k::unary(UnaryOp::relu, x);
  // Kink at 0: gradient 0 there, as PyTorch. gradcheck avoids inputs near 0.
  record(out, "relu", {x}, [y = out.detach()](const Tensor& g) {
    return Grads{k::binary(BinaryOp::relu_backward, g, y, "relu backward")};
  });
  return out;
}

Tensor gelu(const Tensor& x) {
  Tensor out = k::unary(UnaryOp::gelu, x);
  record(out, "gelu", {x}, [xd = x.detach()](const Tensor& g) {
    return Grads{k::binary(BinaryOp::gelu_backward, g, xd, "gelu backward")};
  });
  return out;
}

// Softmax runs on contiguous rows over the last dim; another dim is moved last.
static Tensor softmax_impl(const Tensor& x, int64_t dim, bool log) {
  MOCO_CHECK(x.dim() >= 1, "{}: expects at least 1 dim", log ? "log_softmax" : "softmax");
  dim = wrap_dim(dim, x.dim(), log ? "log_softmax" : "softmax");
  if (dim != x.dim() - 1) return softmax_impl(x.transpose(dim, -1), -1, log).transpose(dim, -1);
  Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (out.numel() > 0) backend_for(x).softmax(out, xc, log);
  record(out, log ? "log_softmax" : "softmax", {xc}, [y = out.detach(), log](const Tensor& g) {
    Tensor dx = Tensor::empty(y.shape(), y.dtype(), y.device());
    if (dx.numel() > 0) backend_for(y).softmax_backward(dx, y, g.contiguous(), log);
    return Grads{dx};
  });
  return out;
}

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  MOCO_CHECK(p >= 0 && p <= 1, "dropout: p = {} is not a probability", p);
  if (!training || p == 0) return x;
  if (p == 1) return mul(x, 0.0);
  // Inverted dropout: keep with probability 1-p and scale by 1/(1-p).
  Tensor mask = mul(bernoulli(x.shape(), 1 - p, gen, x.dtype(), x.device()), 1.0 / (1 - p));
  return mul(x, mask);
}

}  // namespace moco
