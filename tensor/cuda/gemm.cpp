// Batched GEMM through cuBLAS. cuBLAS is column-major; a row-major matrix
// with row stride ld is the column-major transpose with the same ld, so
// row-major C = op(A) op(B) is computed as column-major Cᵀ = op(B)ᵀ op(A)ᵀ:
// the operands swap places and keep their transpose flags (the usual trick).
// Layout rules as tensor/cpu/gemm.cpp: each [rows, cols] operand is row-major
// (stride[1] == 1) or column-major (stride[0] == 1) and is passed with a
// transpose flag and its leading dimension, never copied.
#include <algorithm>
#include <climits>

#include "tensor/cuda/check.h"
#include "tensor/cuda/cuda_backend.h"

namespace moco::cuda {

namespace {
struct MatLayout {
  bool transposed;  // stored column-major: BLAS reads it transposed
  int64_t ld;
};

MatLayout layout_of(int64_t rows, int64_t cols, int64_t s0, int64_t s1, const char* which) {
  if (s1 == 1 && s0 >= std::max<int64_t>(cols, 1)) return {false, s0};
  if (s0 == 1 && s1 >= std::max<int64_t>(rows, 1)) return {true, s1};
  // A single row or column with any positive stride: a row [1, cols] whose
  // elements are s1 apart is a column-major matrix with ld = s1 (and a column
  // [rows, 1] a row-major one with ld = s0).
  if (rows == 1 && (s1 >= 1 || cols == 1)) return {true, std::max<int64_t>(s1, 1)};
  if (cols == 1 && (s0 >= 1 || rows == 1)) return {false, std::max<int64_t>(s0, 1)};
  fail("gemm: operand {} has strides ({}, {}) for a {}x{} matrix; make it contiguous first", which, s0, s1, rows,
       cols);
}

void check_int(int64_t v, const char* what) {
  MOCO_CHECK(v <= INT_MAX, "gemm (cuda): {} = {} does not fit cuBLAS's 32-bit int", what, v);
}
}  // namespace

void CudaBackend::gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
                       const Tensor& c) {
  activate();
  MOCO_CHECK(a.dim() == 3 && b.dim() == 3 && c.dim() == 3, "gemm: expects 3-D [batch, rows, cols] views");
  MOCO_CHECK(a.dtype() == c.dtype() && b.dtype() == c.dtype(), "gemm: dtype mismatch");
  const int64_t batch = c.size(0), M = c.size(1), N = c.size(2);
  const int64_t K = trans_a ? a.size(1) : a.size(2);
  const MatLayout la = layout_of(a.size(1), a.size(2), a.strides()[1], a.strides()[2], "a");
  const MatLayout lb = layout_of(b.size(1), b.size(2), b.strides()[1], b.strides()[2], "b");
  MOCO_CHECK(c.strides()[2] == 1 || N == 1, "gemm: output must be row-major");
  const int64_t ldc = N == 1 ? std::max<int64_t>(c.strides()[1], 1) : c.strides()[1];
  if (M == 0 || N == 0 || batch == 0) return;
  check_int(M, "rows");
  check_int(N, "cols");
  check_int(K, "inner dim");
  check_int(batch, "batch");
  check_int(std::max({la.ld, lb.ld, ldc}), "a leading dimension");
  const cublasOperation_t op_a = (trans_a != la.transposed) ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = (trans_b != lb.transposed) ? CUBLAS_OP_T : CUBLAS_OP_N;
  // Batch strides; 0 repeats an operand over the batch (broadcast matmul).
  const long long sa = batch > 1 ? a.strides()[0] : 0, sb = batch > 1 ? b.strides()[0] : 0,
                  sc = batch > 1 ? c.strides()[0] : 0;
  cublasHandle_t h = cublas();
  if (c.dtype() == DType::f32) {
    MOCO_CUBLAS_CHECK(cublasSetMathMode(h, tf32_enabled() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    const float fa = float(alpha), fb = float(beta);
    MOCO_CUBLAS_CHECK(cublasSgemmStridedBatched(h, op_b, op_a, int(N), int(M), int(K), &fa, dptr<float>(b),
                                                int(lb.ld), sb, dptr<float>(a), int(la.ld), sa, &fb, dptr<float>(c),
                                                int(ldc), sc, int(batch)));
  } else if (c.dtype() == DType::f64) {
    MOCO_CUBLAS_CHECK(cublasDgemmStridedBatched(h, op_b, op_a, int(N), int(M), int(K), &alpha, dptr<double>(b),
                                                int(lb.ld), sb, dptr<double>(a), int(la.ld), sa, &beta,
                                                dptr<double>(c), int(ldc), sc, int(batch)));
  } else {
    fail("gemm: expected a floating dtype (float32/float64), got {}", dtype_name(c.dtype()));
  }
}

}  // namespace moco::cuda
