// Elementwise ops with broadcasting: forward and backward side by side.
// Broadcast inputs get their gradient summed back to their own shape.
#include "autograd/engine.h"
#include "autograd/kernels.h"
#include "autograd/ops.h"

namespace moco {

using Grads = std::vector<Tensor>;

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = k::binary(BinaryOp::add, a, b, "add");
  record(out, "add", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return Grads{sum_to(g, sa), sum_to(g, sb)};
  });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = k::binary(BinaryOp::sub, a, b, "sub");
  record(out, "sub", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return Grads{sum_to(g, sa), sum_to(neg(g), sb)};
  });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = k::binary(BinaryOp::mul, a, b, "mul");
  bool ga = needs_grad({a}), gb = needs_grad({b});
  record(out, "mul", {a, b},
         [sa = a.shape(), sb = b.shape(), ad = gb ? a.detach() : Tensor(), bd = ga ? b.detach() : Tensor()](
             const Tensor& g) {
           return Grads{bd.defined() ? sum_to(mul(g, bd), sa) : Tensor(),
                        ad.defined() ? sum_to(mul(g, ad), sb) : Tensor()};
         });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = k::binary(BinaryOp::div, a, b, "div");
  record(out, "div", {a, b}, [sa = a.shape(), sb = b.shape(), bd = b.detach(), od = out.detach()](const Tensor& g) {
    Tensor ga = div(g, bd);  // d(a/b)/db = -(a/b)/b
    return Grads{sum_to(ga, sa), sum_to(neg(mul(ga, od)), sb)};
  });
  return out;
}

// Gradient of max/min goes to the selected input; ties split it evenly.
static Tensor extremum(const Tensor& a, const Tensor& b, bool is_max) {
  const char* name = is_max ? "maximum" : "minimum";
  Tensor out = k::binary(is_max ? BinaryOp::maximum : BinaryOp::minimum, a, b, name);
  record(out, name, {a, b}, [sa = a.shape(), sb = b.shape(), ad = a.detach(), bd = b.detach(), is_max](const Tensor& g) {
    Tensor wins = is_max ? gt(ad, bd) : lt(ad, bd);
    Tensor wa = add(wins, mul(eq(ad, bd), 0.5));
    return Grads{sum_to(mul(g, wa), sa), sum_to(mul(g, rsub(wa, 1)), sb)};
  });
  return out;
}
Tensor maximum(const Tensor& a, const Tensor& b) { return extremum(a, b, true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum(a, b, false); }

Tensor add(const Tensor& a, double s) {
  Tensor out = k::unary(UnaryOp::affine, a, 1, s);
  record(out, "add_scalar", {a}, [](const Tensor& g) { return Grads{g}; });
  return out;
}

Tensor mul(const Tensor& a, double s) {
  Tensor out = k::unary(UnaryOp::affine, a, s, 0);
  record(out, "mul_scalar", {a}, [s](const Tensor& g) { return Grads{mul(g, s)}; });
  return out;
}

Tensor rsub(const Tensor& a, double s) {
  Tensor out = k::unary(UnaryOp::affine, a, -1, s);
  record(out, "rsub", {a}, [](const Tensor& g) { return Grads{neg(g)}; });
  return out;
}

Tensor rdiv(const Tensor& a, double s) {
  Tensor out = k::unary(UnaryOp::affine, k::unary(UnaryOp::reciprocal, a), s, 0);
  record(out, "rdiv", {a}, [od = out.detach(), ad = a.detach()](const Tensor& g) {
    return Grads{neg(mul(g, div(od, ad)))};  // d(s/a) = -(s/a)/a
  });
  return out;
}

Tensor neg(const Tensor& x) {
  Tensor out = k::unary(UnaryOp::neg, x);
  record(out, "neg", {x}, [](const Tensor& g) { return Grads{neg(g)}; });
  return out;
}

Tensor exp(const Tensor& x) {
  Tensor out = k::unary(UnaryOp::exp, x);
  record(out, "exp", {x}, [y = out.detach()](const Tensor& g) { return Grads{mul(g, y)}; });
  return out;
}

Tensor log(const Tensor& x) {
  Tensor out = k::unary(UnaryOp::log, x);
  record(out, "log", {x}, [xd = x.detach()](const Tensor& g) { return Grads{div(g, xd)}; });
  return out;
}

Tensor sqrt(const Tensor& x) {
  Tensor out = k::unary(UnaryOp::sqrt, x);
  record(out, "sqrt", {x}, [y = out.detach()](const Tensor& g) { return Grads{div(mul(g, 0.5), y)}; });
  return out;
}

Tensor rsqrt(const Tensor& x) {
  Tensor out = k::unary(UnaryOp::rsqrt, x);
  record(out, "rsqrt", {x}, [y = out.detach()](const Tensor& g) {
    return Grads{mul(g, mul(k::unary(UnaryOp::pow, y, 3), -0.5))};
  });
  return out;
}

Tensor abs(const Tensor& x) {
  Tensor out = k::unary(UnaryOp::abs, x);
  // Kink at 0: the subgradient 0 is used, as PyTorch does.
  record(out, "abs", {x}, [xd = x.detach()](const Tensor& g) { return Grads{mul(g, k::unary(UnaryOp::sign, xd))}; });
  return out;
}

Tensor tanh(const Tensor& x) {
  Tensor out = k::unary(UnaryOp::tanh, x);
  record(out, "tanh", {x}, [y = out.detach()](const Tensor& g) { return Grads{mul(g, rsub(mul(y, y), 1))}; });
  return out;
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = k::unary(UnaryOp::sigmoid, x);
  record(out, "sigmoid", {x}, [y = out.detach()](const Tensor& g) { return Grads{mul(g, mul(y, rsub(y, 1)))}; });
  return out;
}

Tensor pow(const Tensor& x, double p) {
  Tensor out = k::unary(UnaryOp::pow, x, p);
  record(out, "pow", {x}, [xd = x.detach(), p](const Tensor& g) {
    return Grads{mul(g, mul(k::unary(UnaryOp::pow, xd, p - 1), p))};
  });
  return out;
}

Tensor clamp(const Tensor& x, double lo, double hi) {
  MOCO_CHECK(lo <= hi, "clamp: lower bound {} above upper bound {}", lo, hi);
  Tensor out = k::unary(UnaryOp::clamp, x, lo, hi);
  record(out, "clamp", {x}, [xd = x.detach(), lo, hi](const Tensor& g) {
    Tensor inside = mul(k::binary(BinaryOp::ge, xd, k::scalar_like(lo, xd), "clamp"),
                        k::binary(BinaryOp::le, xd, k::scalar_like(hi, xd), "clamp"));
    return Grads{mul(g, inside)};
  });
  return out;
}

Tensor clamp_min(const Tensor& x, double lo) { return clamp(x, lo, std::numeric_limits<double>::infinity()); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  k::same_device(cond, a, "where");
  k::same_device(a, b, "where");
  MOCO_CHECK(a.dtype() == b.dtype(), "where: dtype mismatch ({} and {})", dtype_name(a.dtype()), dtype_name(b.dtype()));
  Shape s = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = Tensor::empty(s, a.dtype(), a.device());
  backend_for(a).where(out, expand_view(cond, s), expand_view(a, s), expand_view(b, s));
  record(out, "where", {a, b}, [c = cond.detach(), sa = a.shape(), sb = b.shape()](const Tensor& g) {
    Tensor zero = Tensor::zeros({}, g.dtype(), g.device());
    return Grads{sum_to(where(c, g, zero), sa), sum_to(where(c, zero, g), sb)};
  });
  return out;
}

Tensor eq(const Tensor& a, const Tensor& b) { return k::binary(BinaryOp::eq, a, b, "eq"); }
Tensor ne(const Tensor& a, const Tensor& b) { return k::binary(BinaryOp::ne, a, b, "ne"); }
Tensor lt(const Tensor& a, const Tensor& b) { return k::binary(BinaryOp::lt, a, b, "lt"); }
Tensor le(const Tensor& a, const Tensor& b) { return k::binary(BinaryOp::le, a, b, "le"); }
Tensor gt(const Tensor& a, const Tensor& b) { return k::binary(BinaryOp::gt, a, b, "gt"); }
Tensor ge(const Tensor& a, const Tensor& b) { return k::binary(BinaryOp::ge, a, b, "ge"); }
Tensor gt(const Tensor& a, double s) { return gt(a, k::scalar_like(s, a)); }
Tensor lt(const Tensor& a, double s) { return lt(a, k::scalar_like(s, a)); }

}  // namespace moco
