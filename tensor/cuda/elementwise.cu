// Elementwise CUDA kernels: copy/cast, fill, unary, binary, where. One strided kernel template serves
// them all (strided.cuh); the op is a runtime switch inside the functor, so
// each dtype instantiates one kernel per family rather than one per op.
// The arithmetic mirrors tensor/cpu/elementwise.cpp expression by expression.
#include "tensor/cuda/strided.cuh"

namespace moco::cuda {

namespace {

template <class TO, class TI>
struct CopyF {
  TO* o;
  const TI* x;
  __device__ void operator()(const int64_t* off) const { o[off[0]] = static_cast<TO>(x[off[1]]); }
};

template <class T>
struct FillF {
  T* o;
  T v;
  __device__ void operator()(const int64_t* off) const { o[off[0]] = v; }
};

template <class T>
__device__ __forceinline__ T gelu_grad_of(T v) {
  const T cdf = T(0.5) * (T(1) + d_erf(v * T(M_SQRT1_2)));
  const T pdf = d_exp(T(-0.5) * v * v) * T(0.3989422804014327);  // 1/sqrt(2 pi)
  return cdf + v * pdf;
}

template <class T>
__device__ __forceinline__ T unary_float(UnaryOp op, T v, T a, T b) {
  switch (op) {
    case UnaryOp::neg: return -v;
    case UnaryOp::exp: return d_exp(v);
    case UnaryOp::log: return d_log(v);
    case UnaryOp::sqrt: return d_sqrt(v);
    case UnaryOp::rsqrt: return T(1) / d_sqrt(v);
    case UnaryOp::abs: return d_abs(v);
    case UnaryOp::sign: return T((v > T(0)) - (v < T(0)));
    case UnaryOp::relu: return v > T(0) ? v : T(0);
    case UnaryOp::tanh: return d_tanh(v);
    case UnaryOp::sigmoid: return T(1) / (T(1) + d_exp(-v));
    case UnaryOp::erf: return d_erf(v);
    case UnaryOp::gelu: return T(0.5) * v * (T(1) + d_erf(v * T(M_SQRT1_2)));
    case UnaryOp::affine: return a * v + b;
    case UnaryOp::pow: return a == T(2) ? v * v : d_pow(v, a);
    case UnaryOp::clamp: {  // std::min(std::max(v, a), b): NaN stays NaN
      const T lo = v < a ? a : v;
      return b < lo ? b : lo;
    }
    case UnaryOp::reciprocal: return T(1) / v;
  }
  return v;
}

template <class T>
struct UnaryFloatF {
  T* o;
  const T* x;
  UnaryOp op;
  T a, b;
  __device__ void operator()(const int64_t* off) const { o[off[0]] = unary_float(op, x[off[1]], a, b); }
};

// int64: the ops that make sense for integers, with double parameters as on the CPU.
struct UnaryIntF {
  int64_t* o;
  const int64_t* x;
  UnaryOp op;
  double a, b;
  __device__ void operator()(const int64_t* off) const {
    const int64_t v = x[off[1]];
    int64_t r = v;
    switch (op) {
      case UnaryOp::neg: r = -v; break;
      case UnaryOp::abs: r = v < 0 ? -v : v; break;
      case UnaryOp::affine: r = int64_t(a * double(v) + b); break;
      case UnaryOp::clamp: r = int64_t(fmin(fmax(double(v), a), b)); break;
      default: break;
    }
    o[off[0]] = r;
  }
};

template <class T>
__device__ __forceinline__ T binary_apply(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::add: return x + y;
    case BinaryOp::sub: return x - y;
    case BinaryOp::mul: return x * y;
    case BinaryOp::div: return x / y;
    case BinaryOp::maximum: return x > y ? x : y;
    case BinaryOp::minimum: return x < y ? x : y;
    case BinaryOp::pow:
      if constexpr (std::is_floating_point_v<T>) return d_pow(x, y);
      else return T(pow(double(x), double(y)));
    case BinaryOp::eq: return T(x == y);
    case BinaryOp::ne: return T(x != y);
    case BinaryOp::lt: return T(x < y);
    case BinaryOp::le: return T(x <= y);
    case BinaryOp::gt: return T(x > y);
    case BinaryOp::ge: return T(x >= y);
    case BinaryOp::relu_backward: return y > T(0) ? x : T(0);
    case BinaryOp::gelu_backward:
      if constexpr (std::is_floating_point_v<T>) return x * gelu_grad_of(y);
      else return x;  // refused on the host
  }
  return x;
}

template <class T>
struct BinaryF {
  T* o;
  const T* a;
  const T* b;
  BinaryOp op;
  __device__ void operator()(const int64_t* off) const { o[off[0]] = binary_apply(op, a[off[1]], b[off[2]]); }
};

template <class T, class TC>
struct WhereF {
  T* o;
  const TC* c;
  const T* a;
  const T* b;
  __device__ void operator()(const int64_t* off) const { o[off[0]] = c[off[1]] != TC(0) ? a[off[2]] : b[off[3]]; }
};

}  // namespace

void CudaBackend::copy(const Tensor& out, const Tensor& src) {
  activate();
  MOCO_CHECK(out.shape() == src.shape(), "copy (cuda): shapes {} and {} differ", shape_str(out.shape()),
             shape_str(src.shape()));
  const auto m = make_strided<2>(out.shape(), {&out.strides(), &src.strides()}, "copy");
  dispatch_all(out.dtype(), "copy", [&](auto to_tag) {
    using TO = typename decltype(to_tag)::type;
    dispatch_all(src.dtype(), "copy", [&](auto from_tag) {
      using TI = typename decltype(from_tag)::type;
      launch_strided(*this, m, CopyF<TO, TI>{dptr<TO>(out), dptr<TI>(src)});
    });
  });
}

void CudaBackend::fill(const Tensor& out, double value) {
  activate();
  const auto m = make_strided<1>(out.shape(), {&out.strides()}, "fill");
  dispatch_all(out.dtype(), "fill", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_strided(*this, m, FillF<T>{dptr<T>(out), static_cast<T>(value)});
  });
}

void CudaBackend::unary(UnaryOp op, const Tensor& out, const Tensor& x, double a, double b) {
  activate();
  MOCO_CHECK(out.dtype() == x.dtype(), "unary: dtype mismatch");
  const auto m = make_strided<2>(out.shape(), {&out.strides(), &x.strides()}, "unary");
  if (x.dtype() == DType::i64) {
    MOCO_CHECK(op == UnaryOp::neg || op == UnaryOp::abs || op == UnaryOp::affine || op == UnaryOp::clamp,
               "unary op {}: needs a floating tensor (float32/float64), got int64", int(op));
    launch_strided(*this, m, UnaryIntF{dptr<int64_t>(out), dptr<int64_t>(x), op, a, b});
    return;
  }
  dispatch_float(x.dtype(), "unary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_strided(*this, m, UnaryFloatF<T>{dptr<T>(out), dptr<T>(x), op, T(a), T(b)});
  });
}

void CudaBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  activate();
  MOCO_CHECK(a.dtype() == b.dtype() && out.dtype() == a.dtype(), "binary: dtype mismatch ({} vs {})",
             dtype_name(a.dtype()), dtype_name(b.dtype()));
  MOCO_CHECK(op != BinaryOp::gelu_backward || is_floating(a.dtype()),
             "gelu_backward: needs a floating tensor (float32/float64), got {}", dtype_name(a.dtype()));
  const auto m = make_strided<3>(out.shape(), {&out.strides(), &a.strides(), &b.strides()}, "binary");
  dispatch_all(a.dtype(), "binary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_strided(*this, m, BinaryF<T>{dptr<T>(out), dptr<T>(a), dptr<T>(b), op});
  });
}

void CudaBackend::where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  activate();
  MOCO_CHECK(a.dtype() == b.dtype() && out.dtype() == a.dtype(), "where: dtype mismatch");
  const auto m =
      make_strided<4>(out.shape(), {&out.strides(), &cond.strides(), &a.strides(), &b.strides()}, "where");
  dispatch_all(a.dtype(), "where", [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_all(cond.dtype(), "where", [&](auto ctag) {
      using TC = typename decltype(ctag)::type;
      launch_strided(*this, m, WhereF<T, TC>{dptr<T>(out), dptr<TC>(cond), dptr<T>(a), dptr<T>(b)});
    });
  });
}

}  // namespace moco::cuda
