#include "test_util.h"

using namespace moco;
using namespace moco::testing;

static Tensor vec(std::vector<float> v, Shape s) { return Tensor::from_vector(v, s); }

TEST_CASE("sum and mean over dim sets, keepdim") {
  Tensor a = Tensor::arange(0, 24).reshape({2, 3, 4});
  CHECK(sum(a).item() == 276);
  CHECK(sum(a, {0}).shape() == Shape{3, 4});
  CHECK(sum(a, {0, 2}).to_vector<float>() == std::vector<float>{60, 92, 124});
  CHECK(sum(a, {-1}, true).shape() == Shape{2, 3, 1});
  CHECK(mean(a, {1}).to_vector<float>()[0] == 4);
  CHECK(sum(a.permute({2, 1, 0}), {2}).to_vector<float>() == sum(a, {0}).t().contiguous().to_vector<float>());
  CHECK_THROWS_CONTAINS(sum(a, {3}), "dim 3 out of range");
  CHECK_THROWS_CONTAINS(sum(a, {1, -2}), "repeated");
}

TEST_CASE("var matches the two-pass formula") {
  Tensor x = rnd({4, 5}, 7);
  std::vector<double> v = x.to_vector<double>();
  double m = 0, s = 0;
  for (double e : v) m += e;
  m /= double(v.size());
  for (double e : v) s += (e - m) * (e - m);
  CHECK(var(x).item() == doctest::Approx(s / double(v.size() - 1)).epsilon(1e-12));
  CHECK(var(x, {}, false).item() == doctest::Approx(s / double(v.size())).epsilon(1e-12));
  CHECK(var(x, {1}).shape() == Shape{4});
}

TEST_CASE("max with indices, argmax, amax, amin") {
  Tensor a = vec({3, 9, 1, 7, 2, 8}, {2, 3});
  auto [v, i] = max(a, 1);
  CHECK(v.to_vector<float>() == std::vector<float>{9, 8});
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{1, 2});
  CHECK(argmax(a, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 1});
  CHECK(amax(a).item() == 9);
  CHECK(amin(a, {0}).to_vector<float>() == std::vector<float>{3, 2, 1});
  CHECK(max(a, 0, true).first.shape() == Shape{1, 3});
}

// Naive triple loop, the reference for every GEMM layout.
static Tensor naive_mm(const Tensor& a, const Tensor& b) {
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  std::vector<double> A = a.to_vector<double>(), B = b.to_vector<double>(), C(size_t(M * N), 0.0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)
      for (int64_t k = 0; k < K; ++k) C[size_t(i * N + j)] += A[size_t(i * K + k)] * B[size_t(k * N + j)];
  return Tensor::from_vector(C, {M, N});
}

TEST_CASE("matmul: 2-D in every transpose layout, float32 and float64") {
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor a = rnd({7, 5}, 1, dt), b = rnd({5, 3}, 2, dt);
    Tensor ref = naive_mm(a, b);
    double tol = dt == DType::f32 ? 1e-5 : 1e-12;
    CHECK_CLOSE(matmul(a, b).to(DType::f64), ref, tol, tol);
    CHECK_CLOSE(matmul(a.t().contiguous().t(), b).to(DType::f64), ref, tol, tol);
    CHECK_CLOSE(matmul(a, b.t().contiguous().t()).to(DType::f64), ref, tol, tol);
    CHECK_CLOSE(matmul(a.t().contiguous().t(), b.t().contiguous().t()).to(DType::f64), ref, tol, tol);
  }
}

TEST_CASE("matmul: vectors, batches and broadcast batch dims") {
  Tensor a = rnd({2, 3, 4, 5}, 3), b = rnd({5, 6}, 4);
  Tensor out = matmul(a, b);
  CHECK(out.shape() == Shape{2, 3, 4, 6});
  CHECK_CLOSE(out.select(0, 1).select(0, 2), naive_mm(a.select(0, 1).select(0, 2), b), 1e-12, 1e-12);
  Tensor c = rnd({3, 5, 2}, 5);
  Tensor bc = matmul(a, c);  // [2,3,4,5] @ [3,5,2] -> [2,3,4,2]
  CHECK(bc.shape() == Shape{2, 3, 4, 2});
  CHECK_CLOSE(bc.select(0, 0).select(0, 1), naive_mm(a.select(0, 0).select(0, 1), c.select(0, 1)), 1e-12, 1e-12);
  Tensor v = rnd({5}, 6);
  CHECK(matmul(a, v).shape() == Shape{2, 3, 4});
  CHECK(matmul(v, b).shape() == Shape{6});
  CHECK(matmul(v, v).dim() == 0);
  CHECK_THROWS_CONTAINS(matmul(b, a), "inner dims differ");
  // transposed batch views (attention's k.transpose(-1, -2)) go to BLAS as flags
  Tensor k = rnd({2, 4, 5}, 7);
  CHECK_CLOSE(matmul(k, k.transpose(-1, -2)), matmul(k, k.transpose(-1, -2).contiguous()), 1e-12, 1e-12);
}

TEST_CASE("matmul: a strided single row or column is read with its stride") {
  Tensor row = Tensor::arange(0, 8).slice(0, 0, 8, 2);  // [0, 2, 4, 6], stride 2
  CHECK(matmul(row, Tensor::ones({4, 3})).to_vector<float>() == std::vector<float>{12, 12, 12});
  CHECK(matmul(Tensor::ones({3, 4}), row).to_vector<float>() == std::vector<float>{12, 12, 12});
  Tensor col = Tensor::arange(0, 8).reshape({8, 1}).slice(0, 0, 8, 2);  // column with stride 2
  CHECK(matmul(Tensor::ones({2, 4}), col).to_vector<float>() == std::vector<float>{12, 12});
  CHECK(matmul(col.t(), Tensor::ones({4, 2})).to_vector<float>() == std::vector<float>{12, 12});
}

TEST_CASE("linear") {
  Tensor x = rnd({3, 4}, 1), w = rnd({2, 4}, 2), b = rnd({2}, 3);
  CHECK_CLOSE(linear(x, w, b), add(naive_mm(x, w.t().contiguous()), b), 1e-12, 1e-12);
  CHECK_THROWS_CONTAINS(linear(x, rnd({2, 5}, 1)), "in_features");
}
