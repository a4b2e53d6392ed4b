// Batched GEMM through CBLAS. Transposed operands are passed to BLAS as
// flags with their leading dimension, never copied.
#include <cblas.h>
#include <omp.h>

#include "tensor/cpu/cpu_backend.h"

namespace moco::cpu {

namespace {
// Below this many multiply-adds a product is not worth splitting over threads.
constexpr double kSmallGemmFlops = 1 << 22;

// A [rows, cols] matrix view either row-major (stride[1]==1) or column-major
// (stride[0]==1). Returns whether BLAS must read it transposed, and its ld.
struct MatLayout {
  bool transposed;
  int64_t ld;
};
MatLayout layout_of(int64_t rows, int64_t cols, int64_t s0, int64_t s1, const char* which) {
  if (s1 == 1 && s0 >= std::max<int64_t>(cols, 1)) return {false, s0};
  if (s0 == 1 && s1 >= std::max<int64_t>(rows, 1)) return {true, s1};
  // A single row or column may have any positive element stride: read it as
  // the leading dimension of the other layout.
  if (rows == 1 && s1 >= 1) return {true, s1};
  if (cols == 1 && s0 >= 1) return {false, s0};
  fail("gemm: operand {} has strides ({}, {}) for a {}x{} matrix; make it contiguous first", which, s0, s1, rows,
       cols);
}
}  // namespace

void CpuBackend::gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
                      const Tensor& c) {
  MOCO_CHECK(a.dim() == 3 && b.dim() == 3 && c.dim() == 3, "gemm: expects 3-D [batch, rows, cols] views");
  const int64_t batch = c.size(0), M = c.size(1), N = c.size(2);
  const int64_t K = trans_a ? a.size(1) : a.size(2);
  MatLayout la = layout_of(a.size(1), a.size(2), a.strides()[1], a.strides()[2], "a");
  MatLayout lb = layout_of(b.size(1), b.size(2), b.strides()[1], b.strides()[2], "b");
  MOCO_CHECK(c.strides()[2] == 1 || N == 1, "gemm: output must be row-major");
  const int64_t ldc = N == 1 ? std::max<int64_t>(c.strides()[1], 1) : c.strides()[1];
  const CBLAS_TRANSPOSE ta = (trans_a != la.transposed) ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = (trans_b != lb.transposed) ? CblasTrans : CblasNoTrans;
  if (M == 0 || N == 0) return;
  dispatch_float(c.dtype(), "gemm", [&](auto tag_) {
    using scalar_t = typename decltype(tag_)::type;
    using T = scalar_t;
    const T* pa = ptr<T>(a);
    const T* pb = ptr<T>(b);
    T* pc = ptr<T>(c);
    auto one = [&](int64_t i) {
      const T* ai = pa + i * a.strides()[0];
      const T* bi = pb + i * b.strides()[0];
      T* ci = pc + i * c.strides()[0];
      if constexpr (std::is_same_v<T, float>) {
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, float(alpha), ai, la.ld, bi, lb.ld, float(beta), ci, ldc);
      } else {
        cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, ai, la.ld, bi, lb.ld, beta, ci, ldc);
      }
    };
    // Many small products (attention's per-head matrices): one whole product
    // per thread. OpenBLAS would otherwise split every 65x65 product over the
    // threads and pay a hand-off for each; called inside a parallel region,
    // its OpenMP build runs each product on the calling thread. (Not
    // openblas_set_num_threads(1) around the loop: in that build it sets
    // OpenMP's thread count too, and the loop would run on one thread.)
    // Only when the outputs of the batch do not overlap (a stride-0 output
    // accumulating over the batch would race).
    const int threads = omp_get_max_threads();
    const double flops = double(M) * double(N) * double(K);
    const bool disjoint = c.strides()[0] >= (M - 1) * ldc + N;
    if (threads > 1 && disjoint && batch >= threads && (batch >= 4 * threads || flops <= kSmallGemmFlops)) {
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < batch; ++i) one(i);
    } else {
      for (int64_t i = 0; i < batch; ++i) one(i);
    }
  });
}

}  // namespace moco::cpu
