// Elementwise CPU kernels: copy/cast, fill, unary, binary, where.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <utility>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/fast_math.h"
#include "tensor/cpu/loops.h"

namespace moco::cpu {

// Applies f elementwise: out[i] = f(in0[i], in1[i], ...) over strided views.
template <class TO, class... TI, class F, size_t... I, class... TS>
static void map_impl(const Tensor& out, F f, std::index_sequence<I...>, const TS&... in) {
  constexpr size_t N = 1 + sizeof...(TI);
  TO* po = ptr<TO>(out);
  std::tuple<const TI*...> pin{ptr<TI>(in)...};
  std::array<const Shape*, N> strides{&out.strides(), &in.strides()...};
  strided_for<N>(out.shape(), strides,
                 [&](const std::array<int64_t, N>& off, int64_t n, const std::array<int64_t, N>& s) {
                   TO* o = po + off[0];
                   std::tuple<const TI*...> p{(std::get<I>(pin) + off[I + 1])...};
                   if (((s[I + 1] == 1) && ... && (s[0] == 1))) {
                     for (int64_t i = 0; i < n; ++i) o[i] = f(std::get<I>(p)[i]...);
                   } else {
                     for (int64_t i = 0; i < n; ++i) o[i * s[0]] = f(std::get<I>(p)[i * s[I + 1]]...);
                   }
                 });
}

template <class TO, class... TI, class F, class... TS>
static void map(const Tensor& out, F f, const TS&... in) {
  static_assert(sizeof...(TI) == sizeof...(TS), "one element type per input tensor");
  map_impl<TO, TI...>(out, f, std::index_sequence_for<TI...>{}, in...);
}

void CpuBackend::copy(const Tensor& out, const Tensor& src) {
  dispatch_all(out.dtype(), "copy", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    using TO = scalar_t;
    dispatch_all(src.dtype(), "copy", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
      map<TO, scalar_t>(out, [](scalar_t v) { return static_cast<TO>(v); }, src);
    });
  });
}

void CpuBackend::fill(const Tensor& out, double value) {
  dispatch_all(out.dtype(), "fill", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    scalar_t v = static_cast<scalar_t>(value);
    scalar_t* po = ptr<scalar_t>(out);
    std::array<const Shape*, 1> st{&out.strides()};
    strided_for<1>(out.shape(), st, [&](const std::array<int64_t, 1>& off, int64_t n, const std::array<int64_t, 1>& s) {
      for (int64_t i = 0; i < n; ++i) po[off[0] + i * s[0]] = v;
    });
  });
}

// GELU: float32 takes the vectorisable approximation of fast_math.h (libm's
// scalar erf made GELU the slowest op of a ViT step); float64 stays exact.
static inline float gelu_of(float x) { return fast::gelu(x); }
static inline float gelu_grad_of(float x) { return fast::gelu_grad(x); }
static inline double gelu_of(double x) { return 0.5 * x * (1 + std::erf(x * M_SQRT1_2)); }
static inline double gelu_grad_of(double x) {
  const double cdf = 0.5 * (1 + std::erf(x * M_SQRT1_2));
  const double pdf = std::exp(-0.5 * x * x) * 0.3989422804014327;  // 1/sqrt(2 pi)
  return cdf + x * pdf;
}

void CpuBackend::unary(UnaryOp op, const Tensor& out, const Tensor& x, double a, double b) {
  MOCO_CHECK(out.dtype() == x.dtype(), "unary: dtype mismatch");
  auto run = [&](auto f) {
    dispatch_all(x.dtype(), "unary", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type; map<scalar_t, scalar_t>(out, [&](scalar_t v) { return f(v); }, x); });
  };
  // Integer tensors only support the ops that make sense for them.
  if (x.dtype() == DType::i64) {
    switch (op) {
      case UnaryOp::neg: return run([](auto v) { return -v; });
      case UnaryOp::abs: return run([](auto v) { return v < 0 ? -v : v; });
      case UnaryOp::affine: return run([&](auto v) { return decltype(v)(a * v + b); });
      case UnaryOp::clamp: return run([&](auto v) { return decltype(v)(std::min<double>(std::max<double>(v, a), b)); });
      default: fail("unary op {}: needs a floating tensor (float32/float64), got int64", int(op));
    }
  }
  dispatch_float(x.dtype(), "unary", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    using T = scalar_t;
    const T ta = T(a), tb = T(b);
    auto m = [&](auto f) { map<T, T>(out, f, x); };
    switch (op) {
      case UnaryOp::neg: return m([](T v) { return -v; });
      case UnaryOp::exp: return m([](T v) { return std::exp(v); });
      case UnaryOp::log: return m([](T v) { return std::log(v); });
      case UnaryOp::sqrt: return m([](T v) { return std::sqrt(v); });
      case UnaryOp::rsqrt: return m([](T v) { return T(1) / std::sqrt(v); });
      case UnaryOp::abs: return m([](T v) { return std::abs(v); });
      case UnaryOp::sign: return m([](T v) { return T((v > 0) - (v < 0)); });
      case UnaryOp::relu: return m([](T v) { return v > 0 ? v : T(0); });
      case UnaryOp::tanh: return m([](T v) { return std::tanh(v); });
      case UnaryOp::sigmoid: return m([](T v) { return T(1) / (T(1) + std::exp(-v)); });
      case UnaryOp::erf: return m([](T v) { return std::erf(v); });
      case UnaryOp::gelu: return m([](T v) { return gelu_of(v); });
      case UnaryOp::affine: return m([=](T v) { return ta * v + tb; });
      case UnaryOp::pow:
        if (a == 2) return m([](T v) { return v * v; });
        return m([=](T v) { return std::pow(v, ta); });
      case UnaryOp::clamp: return m([=](T v) { return std::min(std::max(v, ta), tb); });
      case UnaryOp::reciprocal: return m([](T v) { return T(1) / v; });
    }
  });
}

void CpuBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  MOCO_CHECK(a.dtype() == b.dtype() && out.dtype() == a.dtype(), "binary: dtype mismatch ({} vs {})",
             dtype_name(a.dtype()), dtype_name(b.dtype()));
  MOCO_CHECK(op != BinaryOp::gelu_backward || is_floating(a.dtype()),
             "gelu_backward: needs a floating tensor (float32/float64), got {}", dtype_name(a.dtype()));
  dispatch_all(a.dtype(), "binary", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    using T = scalar_t;
    auto m = [&](auto f) { map<T, T, T>(out, f, a, b); };
    switch (op) {
      case BinaryOp::add: return m([](T x, T y) { return x + y; });
      case BinaryOp::sub: return m([](T x, T y) { return x - y; });
      case BinaryOp::mul: return m([](T x, T y) { return x * y; });
      case BinaryOp::div: return m([](T x, T y) { return x / y; });
      case BinaryOp::maximum: return m([](T x, T y) { return x > y ? x : y; });
      case BinaryOp::minimum: return m([](T x, T y) { return x < y ? x : y; });
      case BinaryOp::pow: return m([](T x, T y) { return T(std::pow(x, y)); });
      case BinaryOp::eq: return m([](T x, T y) { return T(x == y); });
      case BinaryOp::ne: return m([](T x, T y) { return T(x != y); });
      case BinaryOp::lt: return m([](T x, T y) { return T(x < y); });
      case BinaryOp::le: return m([](T x, T y) { return T(x <= y); });
      case BinaryOp::gt: return m([](T x, T y) { return T(x > y); });
      case BinaryOp::ge: return m([](T x, T y) { return T(x >= y); });
      case BinaryOp::relu_backward: return m([](T g, T y) { return y > 0 ? g : T(0); });
      case BinaryOp::gelu_backward:
        if constexpr (std::is_floating_point_v<T>) return m([](T g, T x) { return g * gelu_grad_of(x); });
        return;
    }
  });
}

void CpuBackend::where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  MOCO_CHECK(a.dtype() == b.dtype() && out.dtype() == a.dtype(), "where: dtype mismatch");
  dispatch_all(a.dtype(), "where", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    using T = scalar_t;
    dispatch_all(cond.dtype(), "where", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
      map<T, scalar_t, T, T>(out, [](scalar_t c, T x, T y) { return c != 0 ? x : y; }, cond, a, b);
    });
  });
}

}  // namespace moco::cpu
