#include "test_util.h"

#include "tensor/backend.h"

using namespace moco;
using namespace moco::testing;

static Tensor ivec(std::vector<int64_t> v) { return Tensor::from_vector(v, {int64_t(v.size())}); }

TEST_CASE("index_select, gather, scatter_add, index_copy") {
  Tensor a = Tensor::arange(0, 12).reshape({4, 3});
  CHECK(index_select(a, 0, ivec({3, 0})).to_vector<float>() == std::vector<float>{9, 10, 11, 0, 1, 2});
  CHECK(index_select(a, 1, ivec({2})).to_vector<float>() == std::vector<float>{2, 5, 8, 11});
  Tensor idx = Tensor::from_vector(std::vector<int64_t>{2, 0, 1, 1}, {4, 1});
  CHECK(gather(a, 1, idx).to_vector<float>() == std::vector<float>{2, 3, 7, 10});
  Tensor s = scatter_add(Tensor::zeros({4, 3}), 1, idx, Tensor::ones({4, 1}));
  CHECK(s.to_vector<float>() == std::vector<float>{0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 0});
  Tensor q = Tensor::zeros({4, 2});
  index_copy_(q, 0, ivec({1, 3}), Tensor::ones({2, 2}));
  CHECK(q.to_vector<float>() == std::vector<float>{0, 0, 1, 1, 0, 0, 1, 1});
  CHECK(index_copy(Tensor::zeros({3}), 0, ivec({2}), Tensor::ones({1})).to_vector<float>() ==
        std::vector<float>{0, 0, 1});
  CHECK_THROWS_CONTAINS(index_select(a, 0, ivec({4})), "index 4 out of range");
  CHECK_THROWS_CONTAINS(index_select(a, 0, Tensor::zeros({1})), "must be int64");
  CHECK_THROWS_CONTAINS(index_copy_(q, 0, ivec({1}), Tensor::ones({2, 2})), "index_copy_");
}

TEST_CASE("cat, stack, split, chunk") {
  Tensor a = Tensor::arange(0, 4).reshape({2, 2}), b = Tensor::arange(4, 6).reshape({1, 2});
  CHECK(cat({a, b}).to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4, 5});
  CHECK(cat({a, a}, 1).shape() == Shape{2, 4});
  CHECK(cat({a, a}, 1).to_vector<float>() == std::vector<float>{0, 1, 0, 1, 2, 3, 2, 3});
  CHECK(stack({a, a}, 1).shape() == Shape{2, 2, 2});
  CHECK_THROWS_CONTAINS(cat({a, b}, 1), "expected [2, 2] except in dim 1");
  auto parts = split(Tensor::arange(0, 5), 2);
  REQUIRE(parts.size() == 3);
  CHECK(parts[2].to_vector<float>() == std::vector<float>{4});
  CHECK(chunk(Tensor::arange(0, 6), 3).size() == 3);
}

TEST_CASE("philox generator is seeded, deterministic and thread-count independent") {
  Generator g1(42), g2(42), g3(43);
  Tensor a = randn({1000}, g1), b = randn({1000}, g2), c = randn({1000}, g3);
  CHECK_CLOSE(a, b, 0, 0);
  CHECK_FALSE(allclose(a, c, 1e-3, 0).ok);
  // successive draws differ
  CHECK_FALSE(allclose(randn({1000}, g1), a, 1e-3, 0).ok);
  // the same values with 1 and 2 threads (large enough to run threaded)
  const int threads = get_num_threads();
  set_num_threads(1);
  Generator h1(7);
  Tensor one = rand({100000}, h1);
  set_num_threads(2);
  Generator h2(7);
  Tensor two = rand({100000}, h2);
  set_num_threads(threads);
  CHECK_CLOSE(one, two, 0, 0);
}

TEST_CASE("distributions have the right moments and ranges") {
  Generator g(1);
  Tensor u = rand({200000}, g, DType::f64);
  CHECK(amin(u).item() >= 0);
  CHECK(amax(u).item() < 1);
  CHECK(mean(u).item() == doctest::Approx(0.5).epsilon(0.01));
  Tensor n = randn({200000}, g, DType::f64);
  CHECK(mean(n).item() == doctest::Approx(0).scale(1).epsilon(0.01));
  CHECK(var(n).item() == doctest::Approx(1).epsilon(0.02));
  Tensor bern = bernoulli({100000}, 0.3, g);
  CHECK(mean(bern).item() == doctest::Approx(0.3).epsilon(0.02));
  Tensor r = randint(3, 7, {1000}, g);
  CHECK(amin(r.to(DType::f32)).item() == 3);
  CHECK(amax(r.to(DType::f32)).item() == 6);
  Tensor p = randperm(50, g);
  std::vector<int64_t> v = p.to_vector<int64_t>();
  std::sort(v.begin(), v.end());
  for (int64_t i = 0; i < 50; ++i) CHECK(v[size_t(i)] == i);
  CHECK_THROWS_CONTAINS(bernoulli({2}, 1.5, g), "not a probability");
}
