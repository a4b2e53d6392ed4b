#include "autograd/gradcheck.h"

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "tensor/compare.h"
#include "tensor/random.h"

namespace moco {

namespace {
// Storage offset (in elements) of the flat, row-major element i of t.
int64_t storage_index(const Tensor& t, int64_t i) {
  int64_t off = t.offset();
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    const int64_t n = t.shape()[size_t(d)];
    off += (i % n) * t.strides()[size_t(d)];
    i /= n;
  }
  return off;
}
}  // namespace

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs, const GradcheckOptions& opt) {
  GradcheckResult res;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& t = inputs[k];
    if (!t.defined() || !t.requires_grad()) continue;
    MOCO_CHECK(t.dtype() == DType::f64 && t.device().is_cpu(), "gradcheck: input {} must be a float64 CPU tensor", k);
    for (int64_t s : t.strides()) MOCO_CHECK(s != 0, "gradcheck: input {} is an expanded view; pass a real tensor", k);
  }

  // Analytic: one backward of L = sum(f(x) * w).
  for (auto& t : inputs)
    if (t.defined() && t.requires_grad()) t.zero_grad();
  Tensor out = f(inputs);
  Generator gen(opt.seed);
  Tensor w = randn(out.shape(), gen, DType::f64);
  auto loss_of = [&](const Tensor& y) { return sum(mul(y, w)); };
  Tensor L = loss_of(out);
  MOCO_CHECK(L.requires_grad(), "gradcheck: the output does not depend on any input that requires grad");
  L.backward();

  // Numeric: central differences, one element at a time.
  NoGradGuard no_grad;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& t = inputs[k];
    if (!t.defined() || !t.requires_grad()) continue;
    Tensor numeric = Tensor::zeros(t.shape(), DType::f64);
    double* pn = numeric.data<double>();
    double* base = static_cast<double*>(t.storage()->data());
    for (int64_t i = 0; i < t.numel(); ++i) {
      double& x = base[storage_index(t, i)];
      const double saved = x;
      x = saved + opt.eps;
      const double lp = loss_of(f(inputs)).item();
      x = saved - opt.eps;
      const double lm = loss_of(f(inputs)).item();
      x = saved;
      pn[i] = (lp - lm) / (2 * opt.eps);
    }
    Tensor analytic = t.grad().defined() ? t.grad() : Tensor::zeros(t.shape(), DType::f64);
    CloseReport r = allclose(analytic, numeric, opt.atol, opt.rtol, fmt::format("gradient of input {}", k));
    if (!r.ok) {
      res.ok = false;
      res.message += (res.message.empty() ? "" : "\n") + r.message;
    }
  }
  return res;
}

}  // namespace moco
