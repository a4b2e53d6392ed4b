// How to add a differentiable op of your own, and prove its gradient.
//
// We add SiLU (also called swish), silu(x) = x·σ(x), as ONE graph node with a
// hand-written backward, using public headers only:
//   autograd/ops.h        the existing ops (sigmoid, mul, add, ...)
//   autograd/engine.h     record() (attach a node to an output), NoGradGuard
//   autograd/gradcheck.h  gradcheck(): backward() against central differences
//
// Then we check it in float64, as every op of moco.cpp is checked, and show
// that gradcheck catches a backward with a term missing. The program exits
// with 1 when either check does not come out as expected (CTest runs it).
#include <cstdio>
#include <vector>

#include "autograd/engine.h"
#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "tensor/random.h"

using namespace moco;

// silu(x) = x·σ(x);  d silu/dx = σ(x) + x·σ(x)·(1 − σ(x)) = σ(x)·(1 + x·(1 − σ(x))).
// `correct = false` drops the second term: a typical bug, for gradcheck to find.
Tensor silu(const Tensor& x, bool correct = true) {
  // 1. The forward, from existing ops. NoGradGuard stops them from recording
  //    nodes of their own: the graph gets one "silu" node, not a sigmoid and a mul.
  Tensor s, y;
  {
    NoGradGuard no_grad;
    s = sigmoid(x);
    y = mul(x, s);
  }
  // 2. The backward. record() attaches a node to y when grad mode is on and x
  //    requires grad (otherwise it does nothing). Its function receives dL/dy
  //    and returns one gradient per input, here dL/dx = dL/dy · dy/dx. Capture
  //    only what the backward needs (x and σ(x)); the engine frees it after use.
  record(y, "silu", {x}, [x, s, correct](const Tensor& grad_y) {
    Tensor dy_dx = correct ? mul(s, add(mul(x, rsub(s, 1.0)), 1.0))  // σ·(1 + x·(1 − σ))
                           : s;                                       // the bug: σ only
    return std::vector<Tensor>{mul(grad_y, dy_dx)};
  });
  return y;
}

int main() {
  // gradcheck wants float64 CPU inputs that require grad. It computes
  // L = sum(f(x) · w) for a fixed random w, backpropagates once, and compares
  // dL/dx with (L(x + eps) − L(x − eps)) / 2eps for every element of x.
  Generator gen(42);
  Tensor x = mul(randn({4, 5}, gen, DType::f64), 3.0).requires_grad_();
  bool ok = true;

  // The new op's values agree with the composed ops (x * sigmoid(x)).
  {
    NoGradGuard no_grad;
    const double diff = amax(abs(sub(silu(x), mul(x, sigmoid(x))))).item();
    std::printf("forward:  max |silu(x) - x*sigmoid(x)| = %g\n", diff);
    ok = ok && diff == 0;
  }

  // Its graph is one node named "silu", whose backward is ours.
  Tensor y = silu(x);
  std::printf("graph:    y.grad_fn() is \"%s\"\n", y.grad_fn() ? y.grad_fn()->name.c_str() : "(none)");
  ok = ok && y.grad_fn() && y.grad_fn()->name == "silu";

  // The gradient check, with the project's tolerances (atol 1e-5, rtol 1e-4).
  GradcheckResult good = gradcheck([](const std::vector<Tensor>& in) { return silu(in[0]); }, {x});
  std::printf("gradcheck of silu:               %s\n", good.ok ? "passed" : "FAILED");
  if (!good.ok) std::printf("%s\n", good.message.c_str());
  ok = ok && good.ok;

  // The same check on the buggy backward must fail, naming the worst element.
  GradcheckResult bad = gradcheck([](const std::vector<Tensor>& in) { return silu(in[0], false); }, {x});
  std::printf("gradcheck of silu with a bug:    %s\n", bad.ok ? "passed (it should not!)" : "failed, as it should");
  if (!bad.ok) std::printf("  %s\n", bad.message.c_str());
  ok = ok && !bad.ok;

  std::printf("%s\n", ok ? "custom op example: OK" : "custom op example: FAILED");
  return ok ? 0 : 1;
}
