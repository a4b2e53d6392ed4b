// Every primitive of the Backend interface (tensor/backend.h), run by the
// CUDA backend and by the CPU backend on the same inputs, compared under the
// tolerance policy. Shapes cover the kernels' code paths: contiguous and
// strided operands, broadcast (stride-0) sources, rows short and long enough
// for the warp, block and split-row reductions, ties and NaNs for max/min.
#include <cmath>
#include <limits>

#include "cuda_test_util.h"
#include "tensor/backend.h"

using namespace moco;
using namespace moco::testing;

namespace {

Backend& cpu_be() { return backend_for(Device::cpu()); }
Backend& gpu_be() { return backend_for(gpu()); }

// The same tensor on both devices.
struct Pair {
  Tensor c, g;
};
Pair both(const Tensor& cpu) { return {cpu, cpu.to(gpu())}; }
template <class F>
Pair map(const Pair& p, F f) {
  return {f(p.c), f(p.g)};
}
Pair empty_pair(const Shape& s, DType dt) { return {Tensor::empty(s, dt), Tensor::empty(s, dt, gpu())}; }
Pair zeros_pair(const Shape& s, DType dt) { return {Tensor::zeros(s, dt), Tensor::zeros(s, dt, gpu())}; }

Tensor values(const Shape& s, uint64_t seed, DType dt, double scale = 1, double shift = 0) {
  Tensor x = add(mul(rnd(s, seed, DType::f64), scale), shift);
  return x.to(dt);
}
// Values on a coarse grid (k/2 for integers k in [-4, 4]): ties are common.
Tensor tied(const Shape& s, uint64_t seed, DType dt) {
  Generator g(seed);
  Tensor k = randint(-4, 5, s, g);
  return dt == DType::i64 ? k : mul(k.to(dt), 0.5);
}

void check_same(const Pair& p, Tol tol, const std::string& what) {
  auto r = allclose(p.g, p.c, tol.atol, tol.rtol, what);
  INFO(r.message);
  CHECK_MESSAGE(r.ok, what);
}

const DType kAll[] = {DType::f32, DType::f64, DType::i64};
const DType kFloats[] = {DType::f32, DType::f64};

}  // namespace

TEST_CASE("bucket sizes of the caching allocator") {
#ifdef MOCO_WITH_CUDA
  using cuda::CachingAllocator;
  CHECK(CachingAllocator::bucket_size(0) == 512);
  CHECK(CachingAllocator::bucket_size(1) == 512);
  CHECK(CachingAllocator::bucket_size(513) == 1024);
  CHECK(CachingAllocator::bucket_size((1 << 20) - 1) == (1 << 20));
  CHECK(CachingAllocator::bucket_size(1 << 20) == (1 << 20));
  CHECK(CachingAllocator::bucket_size((1 << 20) + 1) == (1 << 20) + (1 << 17));
  for (size_t n : {size_t(1) << 21, size_t(3) << 25, (size_t(1) << 33) + 7}) {
    const size_t b = CachingAllocator::bucket_size(n);
    CHECK(b >= n);
    CHECK(double(b) <= double(n) * 1.125 + 1);
  }
  CHECK(cuda::format_bytes(512) == "512 B");
  CHECK(cuda::format_bytes(size_t(3) << 20) == "3.0 MiB");
#else
  MESSAGE(std::string(cuda_skip_reason()));
#endif
}

TEST_CASE("--device cuda without a GPU is a clear error") {
#ifdef MOCO_WITH_CUDA
  if (cuda::device_count() > 0) {
    MESSAGE("a GPU is present: nothing to check here");
    return;
  }
  // The plugin sits beside this test (CMake builds it first), so it loads
  // and the error is about the driver or the GPU, not the plugin.
  const std::string why = cuda::unavailable_reason();
  MESSAGE("CUDA here: " << why);
  CHECK(why.find("CUDA plugin") == std::string::npos);
  CHECK_THROWS_CONTAINS(Tensor::zeros({2}, DType::f32, Device::cuda()), "no CUDA GPU is present");
  CHECK_THROWS_CONTAINS(Tensor::zeros({2}, DType::f32, Device::cuda(1)), why);
#else
  CHECK_THROWS_CONTAINS(Tensor::zeros({2}, DType::f32, Device::cuda()), "built without CUDA");
#endif
}

TEST_CASE("host <-> device copies of every dtype, empty and strided tensors") {
  SKIP_WITHOUT_CUDA();
  for (DType dt : kAll) {
    Tensor x = dt == DType::i64 ? tied({3, 4, 5}, 1, dt) : values({3, 4, 5}, 1, dt);
    Tensor g = x.to(gpu());
    CHECK(g.device() == gpu());
    CHECK_GPU_CPU(g, x, Tol({0, 0}));
    CHECK_GPU_CPU(x.permute({2, 0, 1}).to(gpu()), x.permute({2, 0, 1}), Tol({0, 0}));
    CHECK_GPU_CPU(g.permute({2, 0, 1}).contiguous(), x.permute({2, 0, 1}).contiguous(), Tol({0, 0}));
    Tensor e = Tensor::empty({0, 3}, dt, gpu());
    CHECK(e.to(Device::cpu()).numel() == 0);
  }
  // copy_ across devices broadcasts and casts
  Tensor dst = Tensor::zeros({2, 3}, DType::f64, gpu());
  dst.copy_(Tensor::from_vector(std::vector<float>{1, 2, 3}, {3}));
  CHECK(dst.to_vector<double>() == std::vector<double>{1, 2, 3, 1, 2, 3});
  CHECK(Tensor::full({}, 2.5, DType::f32, gpu()).item() == 2.5);
}

TEST_CASE("copy casts between every dtype pair, from strided and broadcast sources, into strided outputs") {
  SKIP_WITHOUT_CUDA();
  for (DType from : kAll)
    for (DType to : kAll) {
      CAPTURE(dtype_name(from));
      CAPTURE(dtype_name(to));
      Pair src = both(from == DType::i64 ? tied({5, 4, 3}, 2, from) : values({5, 4, 3}, 2, from, 3));
      // contiguous
      Pair out = empty_pair({5, 4, 3}, to);
      cpu_be().copy(out.c, src.c);
      gpu_be().copy(out.g, src.g);
      check_same(out, {0, 0}, "copy contiguous");
      // permuted source
      Pair perm = map(src, [](const Tensor& t) { return t.permute({2, 1, 0}); });
      Pair out2 = empty_pair({3, 4, 5}, to);
      cpu_be().copy(out2.c, perm.c);
      gpu_be().copy(out2.g, perm.g);
      check_same(out2, {0, 0}, "copy from a permuted source");
      // broadcast source (stride 0) into a permuted (strided) output
      Pair row = map(src, [](const Tensor& t) { return expand_view(t.select(0, 1).select(1, 2).reshape({1, 4, 1}), {3, 4, 5}); });
      Pair base = zeros_pair({5, 4, 3}, to);
      Pair out3 = map(base, [](const Tensor& t) { return t.permute({2, 1, 0}); });
      cpu_be().copy(out3.c, row.c);
      gpu_be().copy(out3.g, row.g);
      check_same(base, {0, 0}, "copy of a broadcast source into a strided output");
    }
  // Six dims that cannot merge: every other element of every dim.
  Pair big = both(values({4, 5, 6, 4, 5, 6}, 3, DType::f32));
  Pair strided = map(big, [](const Tensor& t) {
    return t.slice(0, 0, 4, 2).slice(1, 0, 5, 2).slice(2, 1, 6, 2).slice(3, 0, 4, 3).slice(4, 0, 5, 2).slice(5, 0, 6, 2);
  });
  Pair out = empty_pair(strided.c.shape(), DType::f32);
  cpu_be().copy(out.c, strided.c);
  gpu_be().copy(out.g, strided.g);
  check_same(out, {0, 0}, "copy of a 6-d strided view");
}

TEST_CASE("fill writes exactly the elements of a strided view") {
  SKIP_WITHOUT_CUDA();
  for (DType dt : kAll) {
    Pair base = zeros_pair({6, 7}, dt);
    Pair view = map(base, [](const Tensor& t) { return t.slice(0, 1, 6, 2).slice(1, 0, 7, 3); });
    cpu_be().fill(view.c, 3.0);
    gpu_be().fill(view.g, 3.0);
    check_same(base, {0, 0}, "fill of a strided view");
  }
}

TEST_CASE("every unary op, float32 and float64, on transposed inputs; the int64 ones") {
  SKIP_WITHOUT_CUDA();
  struct Case {
    UnaryOp op;
    const char* name;
    double a, b;
    bool positive;  // needs x > 0
  };
  const Case cases[] = {
      {UnaryOp::neg, "neg", 0, 0, false},        {UnaryOp::exp, "exp", 0, 0, false},
      {UnaryOp::log, "log", 0, 0, true},         {UnaryOp::sqrt, "sqrt", 0, 0, true},
      {UnaryOp::rsqrt, "rsqrt", 0, 0, true},     {UnaryOp::abs, "abs", 0, 0, false},
      {UnaryOp::sign, "sign", 0, 0, false},      {UnaryOp::relu, "relu", 0, 0, false},
      {UnaryOp::tanh, "tanh", 0, 0, false},      {UnaryOp::sigmoid, "sigmoid", 0, 0, false},
      {UnaryOp::erf, "erf", 0, 0, false},        {UnaryOp::gelu, "gelu", 0, 0, false},
      {UnaryOp::affine, "affine", -1.5, 0.25, false},
      {UnaryOp::pow, "pow 2", 2, 0, false},      {UnaryOp::pow, "pow 1.7", 1.7, 0, true},
      {UnaryOp::clamp, "clamp", -0.5, 0.7, false}, {UnaryOp::reciprocal, "reciprocal", 0, 0, true},
  };
  for (DType dt : kFloats)
    for (const Case& c : cases) {
      CAPTURE(c.name);
      CAPTURE(dtype_name(dt));
      Tensor x = values({37, 29}, 11, dt, 2);
      if (c.positive) x = add(abs(x), 0.01);
      Pair in = map(both(x), [](const Tensor& t) { return t.t(); });
      Pair out = empty_pair({29, 37}, dt);
      cpu_be().unary(c.op, out.c, in.c, c.a, c.b);
      gpu_be().unary(c.op, out.g, in.g, c.a, c.b);
      check_same(out, tol_for(dt, {1e-6, 2e-6}), c.name);
    }
  for (UnaryOp op : {UnaryOp::neg, UnaryOp::abs, UnaryOp::affine, UnaryOp::clamp}) {
    Pair in = both(tied({5, 9}, 4, DType::i64));
    Pair out = empty_pair({5, 9}, DType::i64);
    cpu_be().unary(op, out.c, in.c, 3, 2);
    gpu_be().unary(op, out.g, in.g, 3, 2);
    check_same(out, {0, 0}, "int64 unary");
  }
  CHECK_THROWS_CONTAINS(gpu_be().unary(UnaryOp::exp, Tensor::empty({2}, DType::i64, gpu()),
                                       Tensor::zeros({2}, DType::i64, gpu())), "needs a floating tensor");
}

TEST_CASE("every binary op and comparison, with broadcasting, in all dtypes") {
  SKIP_WITHOUT_CUDA();
  const BinaryOp ops[] = {BinaryOp::add, BinaryOp::sub,     BinaryOp::mul,     BinaryOp::div, BinaryOp::maximum,
                          BinaryOp::minimum, BinaryOp::pow, BinaryOp::eq,      BinaryOp::ne,  BinaryOp::lt,
                          BinaryOp::le,  BinaryOp::gt,      BinaryOp::ge};
  for (DType dt : kAll)
    for (BinaryOp op : ops) {
      CAPTURE(int(op));
      CAPTURE(dtype_name(dt));
      Tensor a = tied({4, 1, 5}, 5, dt), b = tied({3, 1}, 6, dt);
      if (op == BinaryOp::div || op == BinaryOp::pow) {  // no zero divisors, no negative bases to real powers
        a = dt == DType::i64 ? add(abs(a), 1.0) : add(abs(values({4, 1, 5}, 5, dt)), 0.5);
        b = dt == DType::i64 ? add(abs(b), 1.0) : values({3, 1}, 6, dt);
        if (dt == DType::i64 && op == BinaryOp::pow) b = clamp(b, 0, 3);
      }
      Pair pa = map(both(a), [](const Tensor& t) { return expand_view(t, {4, 3, 5}); });
      Pair pb = map(both(b), [](const Tensor& t) { return expand_view(t, {4, 3, 5}); });
      Pair out = empty_pair({4, 3, 5}, dt);
      cpu_be().binary(op, out.c, pa.c, pb.c);
      gpu_be().binary(op, out.g, pa.g, pb.g);
      check_same(out, dt == DType::i64 ? Tol{0, 0} : tol_for(dt, {1e-6, 2e-6}), "binary");
    }
  // The fused backward passes: relu_backward (a = gradient, b = relu's output,
  // zeros included) and gelu_backward (b = gelu's input, floats only).
  for (DType dt : kAll)
    for (BinaryOp op : {BinaryOp::relu_backward, BinaryOp::gelu_backward}) {
      if (op == BinaryOp::gelu_backward && dt == DType::i64) continue;
      CAPTURE(int(op));
      CAPTURE(dtype_name(dt));
      Tensor b = op == BinaryOp::relu_backward ? tied({6, 7}, 5, dt) : values({6, 7}, 5, dt, 3);  // ties: zeros
      Pair pa = map(both(dt == DType::i64 ? tied({7, 6}, 6, dt) : values({7, 6}, 6, dt)),
                    [](const Tensor& t) { return t.t(); });
      Pair pb = both(b);
      Pair out = empty_pair({6, 7}, dt);
      cpu_be().binary(op, out.c, pa.c, pb.c);
      gpu_be().binary(op, out.g, pa.g, pb.g);
      check_same(out, dt == DType::i64 ? Tol{0, 0} : tol_for(dt, {1e-6, 2e-6}), "fused backward");
    }
  CHECK_THROWS_CONTAINS(gpu_be().binary(BinaryOp::gelu_backward, Tensor::empty({2}, DType::i64, gpu()),
                                        Tensor::zeros({2}, DType::i64, gpu()), Tensor::zeros({2}, DType::i64, gpu())),
                        "needs a floating tensor");
  // In place: out aliases an input (Tensor::add_ does this).
  Pair x = both(values({8, 9}, 7, DType::f32));
  Pair y = both(values({9}, 8, DType::f32));
  cpu_be().binary(BinaryOp::add, x.c, x.c, expand_view(y.c, {8, 9}));
  gpu_be().binary(BinaryOp::add, x.g, x.g, expand_view(y.g, {8, 9}));
  check_same(x, {0, 0}, "in-place add");
}

TEST_CASE("where with conditions of every dtype and broadcast branches") {
  SKIP_WITHOUT_CUDA();
  for (DType cdt : kAll)
    for (DType dt : kAll) {
      Tensor cond = gt(tied({4, 6}, 9, DType::f32), 0.0).to(cdt);
      Pair pc = both(cond);
      Pair pa = both(tied({4, 6}, 10, dt));
      Pair pb = map(both(tied({6}, 11, dt)), [](const Tensor& t) { return expand_view(t, {4, 6}); });
      Pair out = empty_pair({4, 6}, dt);
      cpu_be().where(out.c, pc.c, pa.c, pb.c);
      gpu_be().where(out.g, pc.g, pa.g, pb.g);
      check_same(out, {0, 0}, "where");
    }
}

TEST_CASE("reduce_rows: sum, max and min with indices on short, long and split rows, ties and NaN") {
  SKIP_WITHOUT_CUDA();
  const Shape shapes[] = {{1, 1}, {7, 13}, {3, 1000}, {2, 1025}, {2, 5000}, {1, 300000}, {5000, 3}, {300, 700}};
  for (DType dt : kAll)
    for (const Shape& s : shapes)
      for (ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::min}) {
        CAPTURE(dtype_name(dt));
        CAPTURE(shape_str(s));
        CAPTURE(int(op));
        Tensor x = op == ReduceOp::sum ? (dt == DType::i64 ? tied(s, 12, dt) : values(s, 12, dt)) : tied(s, 12, dt);
        if (dt != DType::i64 && op != ReduceOp::sum && s[1] > 3) {  // NaNs in row 0, at two places
          Tensor xc = x.contiguous();
          Tensor row = xc.select(0, 0);
          row.narrow(0, s[1] / 3, 1).fill_(NAN);
          row.narrow(0, s[1] / 2, 1).fill_(NAN);
          x = xc;
        }
        Pair in = both(x);
        Pair out = empty_pair({s[0]}, dt), idx = empty_pair({s[0]}, DType::i64);
        const bool with_idx = op != ReduceOp::sum;
        cpu_be().reduce_rows(op, out.c, with_idx ? &idx.c : nullptr, in.c);
        gpu_be().reduce_rows(op, out.g, with_idx ? &idx.g : nullptr, in.g);
        check_same(out, op == ReduceOp::sum && dt != DType::i64 ? tol_for(dt, {1e-5, 1e-6}) : Tol{0, 0}, "values");
        if (with_idx) check_same(idx, {0, 0}, "indices");
      }
}

TEST_CASE("sum_cols: column sums of short, tall and wide matrices in every dtype") {
  SKIP_WITHOUT_CUDA();
  const Shape shapes[] = {{1, 1}, {5, 3}, {4160, 192}, {70000, 2}, {3, 5000}, {65, 33}};
  for (DType dt : kAll)
    for (const Shape& s : shapes) {
      CAPTURE(dtype_name(dt));
      CAPTURE(shape_str(s));
      Pair x = both(dt == DType::i64 ? tied(s, 60, dt) : values(s, 60, dt, 2, 3));
      Pair out = empty_pair({s[1]}, dt);
      cpu_be().sum_cols(out.c, x.c);
      gpu_be().sum_cols(out.g, x.g);
      check_same(out, dt == DType::i64 ? Tol{0, 0} : tol_for(dt, {1e-4, 1e-6}), "sum_cols");
    }
}

TEST_CASE("gemm: transposes, row- and column-major operands, batch strides, alpha and beta") {
  SKIP_WITHOUT_CUDA();
  struct Size {
    int64_t M, N, K;
  };
  const Size sizes[] = {{1, 1, 1}, {5, 7, 3}, {64, 33, 17}, {1, 9, 4}, {6, 1, 4}, {130, 70, 260}};
  uint64_t seed = 100;
  for (DType dt : kFloats)
    for (const Size& z : sizes)
      for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb)
          for (int a_col = 0; a_col < 2; ++a_col)
            for (int b_col = 0; b_col < 2; ++b_col)
              for (int64_t batch : {1, 3}) {
                CAPTURE(dtype_name(dt));
                CAPTURE(z.M);
                CAPTURE(z.N);
                CAPTURE(z.K);
                CAPTURE(ta);
                CAPTURE(tb);
                CAPTURE(a_col);
                CAPTURE(b_col);
                CAPTURE(batch);
                // stored shapes: op(a) is [M, K], op(b) is [K, N]
                const int64_t ar = ta ? z.K : z.M, ac = ta ? z.M : z.K, br = tb ? z.N : z.K, bc = tb ? z.K : z.N;
                // A stored [r, c] matrix per batch entry, row-major or column-major (the
                // transpose of a contiguous [c, r] buffer); the view is made on each device.
                auto make = [&](int64_t r, int64_t c, bool col_major, int64_t nb) {
                  if (!col_major) return both(values({nb, r, c}, ++seed, dt));
                  return map(both(values({nb, c, r}, ++seed, dt)), [](const Tensor& t) { return t.transpose(1, 2); });
                };
                Pair a = make(ar, ac, a_col, batch);
                // b repeats over the batch (batch stride 0) when it is column-major
                Pair b = b_col ? map(make(br, bc, true, 1), [&](const Tensor& t) { return expand_view(t, {batch, br, bc}); })
                               : make(br, bc, false, batch);
                // c: rows of a wider buffer (ldc > N)
                Pair cbuf = both(values({batch, z.M, z.N + 3}, ++seed, dt));
                Pair c = map(cbuf, [&](const Tensor& t) { return t.narrow(2, 1, z.N); });
                const double beta = (seed % 2) ? 1.0 : 0.0;
                cpu_be().gemm(ta, tb, 0.5, a.c, b.c, beta, c.c);
                gpu_be().gemm(ta, tb, 0.5, a.g, b.g, beta, c.g);
                check_same(cbuf, tol_for(dt, {1e-5, 1e-4}), "gemm");
              }
}

TEST_CASE("index_select, index_add, gather and scatter_add along every dim, with repeated indices") {
  SKIP_WITHOUT_CUDA();
  for (DType dt : kAll)
    for (int64_t dim = 0; dim < 3; ++dim) {
      CAPTURE(dim);
      CAPTURE(dtype_name(dt));
      const Shape s{4, 5, 6};
      Pair x = both(tied(s, 20, dt));
      Pair idx = both(Tensor::from_vector(std::vector<int64_t>{3, 0, 3, 1, 1, 2, 0}, {7}));
      Shape so = s;
      so[size_t(dim)] = 7;
      Pair out = empty_pair(so, dt);
      cpu_be().index_select(out.c, x.c, dim, idx.c);
      gpu_be().index_select(out.g, x.g, dim, idx.g);
      check_same(out, {0, 0}, "index_select");
      Pair acc = both(tied(s, 21, dt));
      Pair src = both(tied(so, 22, dt));
      cpu_be().index_add(acc.c, dim, idx.c, src.c);
      gpu_be().index_add(acc.g, dim, idx.g, src.g);
      check_same(acc, {0, 0}, "index_add");  // sums of k/2 values are exact in any order
      // gather / scatter_add with a same-rank index of 3 entries along dim
      Shape si = s;
      si[size_t(dim)] = 3;
      Generator gen(23 + uint64_t(dim));
      Pair gi = both(randint(0, s[size_t(dim)], si, gen));
      Pair gout = empty_pair(si, dt);
      cpu_be().gather(gout.c, x.c, dim, gi.c);
      gpu_be().gather(gout.g, x.g, dim, gi.g);
      check_same(gout, {0, 0}, "gather");
      Pair sacc = both(tied(s, 24, dt));
      Pair ssrc = both(tied(si, 25, dt));
      cpu_be().scatter_add(sacc.c, dim, gi.c, ssrc.c);
      gpu_be().scatter_add(sacc.g, dim, gi.g, ssrc.g);
      check_same(sacc, {0, 0}, "scatter_add");
    }
}

TEST_CASE("an out-of-range index found on the GPU is an error at the next synchronisation") {
  SKIP_WITHOUT_CUDA();
  if (!real_gpu()) return;  // the CPU throws at once, with its own message
  Tensor x = Tensor::ones({4, 3}, DType::f32, gpu());
  Tensor idx = Tensor::from_vector(std::vector<int64_t>{1, 9}, {2}, gpu());
  Tensor out = Tensor::empty({2, 3}, DType::f32, gpu());
  gpu_be().index_select(out, x, 0, idx);  // queued; no error yet
  CHECK_THROWS_CONTAINS(out.to(Device::cpu()), "index_select (cuda:0): index 9 out of range for a dim of size 4");
  // The slot is cleared: the next work runs normally.
  CHECK(Tensor::ones({2}, DType::f32, gpu()).to_vector<float>() == std::vector<float>{1, 1});
}

TEST_CASE("softmax and log_softmax with their backward, rows from 1 to 5000 long") {
  SKIP_WITHOUT_CUDA();
  for (DType dt : kFloats)
    for (int64_t len : {1, 7, 32, 1000, 1024, 1025, 5000})
      for (int64_t rows : {1, 3, 300})
        for (bool log : {false, true}) {
          CAPTURE(dtype_name(dt));
          CAPTURE(len);
          CAPTURE(rows);
          CAPTURE(log);
          Pair x = both(values({rows, len}, 30 + uint64_t(len), dt, 3));
          Pair y = empty_pair({rows, len}, dt);
          cpu_be().softmax(y.c, x.c, log);
          gpu_be().softmax(y.g, x.g, log);
          check_same(y, tol_for(dt, {1e-6, 1e-5}), "softmax");
          Pair dy = both(values({rows, len}, 31, dt));
          Pair dx = empty_pair({rows, len}, dt);
          cpu_be().softmax_backward(dx.c, y.c, dy.c, log);
          gpu_be().softmax_backward(dx.g, y.c.to(gpu()), dy.g, log);  // the same y on both
          check_same(dx, tol_for(dt, {1e-6, 1e-5}), "softmax_backward");
        }
}

TEST_CASE("batch-norm channel kernels on [N, C] and [N, C, S], small and split across blocks") {
  SKIP_WITHOUT_CUDA();
  const Shape shapes[] = {{256, 64}, {4, 3}, {8, 16, 49}, {2, 3, 1}, {64, 2, 1024}, {1, 5, 7}, {3, 1, 70000}};
  for (DType dt : kFloats)
    for (const Shape& s : shapes) {
      CAPTURE(dtype_name(dt));
      CAPTURE(shape_str(s));
      const int64_t C = s[1];
      Pair x = both(values(s, 40, dt, 2, 3));  // mean 3: the variance must not lose digits to it
      Pair mean = empty_pair({C}, dt), var = empty_pair({C}, dt);
      cpu_be().channel_moments(x.c, mean.c, var.c);
      gpu_be().channel_moments(x.g, mean.g, var.g);
      check_same(mean, tol_for(dt, {1e-6, 1e-6}), "mean");
      check_same(var, tol_for(dt, {1e-6, 1e-5}), "var");
      Pair dy = both(values(s, 41, dt));
      Pair sdy = empty_pair({C}, dt), sdx = empty_pair({C}, dt);
      cpu_be().channel_grad_sums(dy.c, x.c, mean.c, sdy.c, sdx.c);
      gpu_be().channel_grad_sums(dy.g, x.g, mean.c.to(gpu()), sdy.g, sdx.g);
      check_same(sdy, tol_for(dt, {1e-4, 1e-5}), "sum_dy");
      check_same(sdx, tol_for(dt, {1e-4, 1e-5}), "sum_dy_xmu");
      Pair scale = both(values({C}, 42, dt)), shift = both(values({C}, 43, dt)), scale2 = both(values({C}, 44, dt));
      for (bool second : {false, true}) {
        Pair out = empty_pair(s, dt);
        cpu_be().channel_affine(out.c, x.c, scale.c, shift.c, second ? dy.c : Tensor(), second ? scale2.c : Tensor());
        gpu_be().channel_affine(out.g, x.g, scale.g, shift.g, second ? dy.g : Tensor(), second ? scale2.g : Tensor());
        check_same(out, tol_for(dt, {1e-6, 1e-6}), "channel_affine");
      }
    }
}

TEST_CASE("layer-norm kernels: rows short and long (warp and block paths), with and without weight and bias") {
  SKIP_WITHOUT_CUDA();
  const Shape shapes[] = {{1, 1}, {3, 5}, {70, 192}, {300, 1000}, {5, 1025}, {4, 5000}, {4160, 192}, {2, 70000}};
  for (DType dt : kFloats)
    for (const Shape& s : shapes)
      for (int affine = 0; affine < 3; ++affine) {  // none, weight only, weight and bias
        CAPTURE(dtype_name(dt));
        CAPTURE(shape_str(s));
        CAPTURE(affine);
        const int64_t rows = s[0], len = s[1];
        Pair x = both(values(s, 50, dt, 2, 3));  // mean 3: the variance must not lose digits to it
        Pair w = affine >= 1 ? both(values({len}, 51, dt)) : Pair{};
        Pair b = affine >= 2 ? both(values({len}, 52, dt)) : Pair{};
        Pair y = empty_pair(s, dt), mean = empty_pair({rows}, dt), rstd = empty_pair({rows}, dt);
        cpu_be().layer_norm(y.c, mean.c, rstd.c, x.c, w.c, b.c, 1e-5);
        gpu_be().layer_norm(y.g, mean.g, rstd.g, x.g, w.g, b.g, 1e-5);
        check_same(mean, tol_for(dt, {1e-6, 1e-6}), "mean");
        check_same(rstd, tol_for(dt, {1e-6, 1e-5}), "rstd");
        check_same(y, tol_for(dt, {1e-5, 1e-5}), "layer_norm");
        Pair dy = both(values(s, 53, dt));
        Pair dx = empty_pair(s, dt), dw = empty_pair({len}, dt), db = empty_pair({len}, dt);
        const Tensor mean_g = mean.c.to(gpu()), rstd_g = rstd.c.to(gpu());  // the same statistics on both
        cpu_be().layer_norm_backward(dx.c, dw.c, db.c, dy.c, x.c, mean.c, rstd.c, w.c);
        gpu_be().layer_norm_backward(dx.g, dw.g, db.g, dy.g, x.g, mean_g, rstd_g, w.g);
        check_same(dx, tol_for(dt, {1e-5, 1e-4}), "layer_norm dx");
        check_same(dw, tol_for(dt, {1e-4, 1e-5}), "layer_norm dw");
        check_same(db, tol_for(dt, {1e-4, 1e-5}), "layer_norm db");
        // dx alone, and db alone.
        Pair dx2 = empty_pair(s, dt), db2 = empty_pair({len}, dt);
        cpu_be().layer_norm_backward(dx2.c, Tensor(), Tensor(), dy.c, x.c, mean.c, rstd.c, w.c);
        gpu_be().layer_norm_backward(dx2.g, Tensor(), Tensor(), dy.g, x.g, mean_g, rstd_g, w.g);
        check_same(dx2, tol_for(dt, {1e-5, 1e-4}), "layer_norm dx alone");
        cpu_be().layer_norm_backward(Tensor(), Tensor(), db2.c, dy.c, x.c, mean.c, rstd.c, w.c);
        gpu_be().layer_norm_backward(Tensor(), Tensor(), db2.g, dy.g, x.g, mean_g, rstd_g, w.g);
        check_same(db2, tol_for(dt, {1e-4, 1e-5}), "layer_norm db alone");
      }
}

TEST_CASE("im2col and col2im: stride, padding, dilation, rectangular kernels, columns side by side") {
  SKIP_WITHOUT_CUDA();
  using G = Backend::ConvGeom;
  auto geom = [](int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                 int64_t pw, int64_t dh, int64_t dw) {
    G g{C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, 0, 0, 0};
    g.oh = (H + 2 * ph - dh * (kh - 1) - 1) / sh + 1;
    g.ow = (W + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
    return g;
  };
  const G geoms[] = {geom(3, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1), geom(2, 9, 7, 3, 2, 2, 1, 1, 0, 2, 1),
                     geom(4, 5, 5, 1, 1, 1, 1, 0, 0, 1, 1), geom(2, 11, 10, 4, 4, 4, 4, 0, 0, 1, 1),
                     geom(1, 6, 9, 3, 5, 2, 3, 2, 1, 1, 2)};
  for (DType dt : kFloats)
    for (G g : geoms)
      for (int64_t images : {1, 3}) {
        CAPTURE(g.C);
        CAPTURE(g.kh);
        CAPTURE(images);
        const int64_t L = g.oh * g.ow, kdim = g.C * g.kh * g.kw;
        g.col_ld = images * L;
        Pair img = both(values({g.C, g.H, g.W}, 50, dt));
        Pair cols = zeros_pair({kdim, images * L}, dt);
        const int64_t slot = images - 1;  // write the last image's columns
        Pair view = map(cols, [&](const Tensor& t) { return make_view(t, {kdim, L}, {images * L, 1}, slot * L); });
        cpu_be().im2col(view.c, img.c, g);
        gpu_be().im2col(view.g, img.g, g);
        check_same(cols, {0, 0}, "im2col");
        Pair src = both(values({kdim, images * L}, 51, dt));
        Pair srcv = map(src, [&](const Tensor& t) { return make_view(t, {kdim, L}, {images * L, 1}, slot * L); });
        Pair back = both(values({g.C, g.H, g.W}, 52, dt));  // col2im accumulates
        cpu_be().col2im(back.c, srcv.c, g);
        gpu_be().col2im(back.g, srcv.g, g);
        check_same(back, tol_for(dt, {1e-6, 1e-6}), "col2im");
      }
}

TEST_CASE("max and avg pooling forward and backward, with ties, padding and count_include_pad") {
  SKIP_WITHOUT_CUDA();
  struct Cfg {
    int64_t k, s, p;
    bool include_pad;
  };
  const Cfg cfgs[] = {{2, 2, 0, true}, {3, 2, 1, true}, {3, 2, 1, false}, {3, 1, 1, false}, {4, 4, 2, true}};
  for (DType dt : kFloats)
    for (const Cfg& c : cfgs) {
      CAPTURE(c.k);
      CAPTURE(c.s);
      CAPTURE(c.p);
      Backend::PoolGeom g{2, 3, 9, 8, c.k, c.k, c.s, c.s, c.p, c.p, 0, 0, c.include_pad};
      g.oh = (g.H + 2 * c.p - c.k) / c.s + 1;
      g.ow = (g.W + 2 * c.p - c.k) / c.s + 1;
      const Shape in{g.N, g.C, g.H, g.W}, out{g.N, g.C, g.oh, g.ow};
      Pair x = both(tied(in, 60, dt));  // many ties: the first maximum must win on both
      Pair y = empty_pair(out, dt), idx = empty_pair(out, DType::i64);
      cpu_be().max_pool2d(y.c, idx.c, x.c, g);
      gpu_be().max_pool2d(y.g, idx.g, x.g, g);
      check_same(y, {0, 0}, "max_pool2d");
      check_same(idx, {0, 0}, "max_pool2d indices");
      Pair dy = both(values(out, 61, dt));
      Pair dx = zeros_pair(in, dt);
      cpu_be().max_pool2d_backward(dx.c, dy.c, idx.c, g);
      gpu_be().max_pool2d_backward(dx.g, dy.g, idx.c.to(gpu()), g);
      check_same(dx, tol_for(dt, {1e-6, 1e-6}), "max_pool2d_backward");
      Pair xa = both(values(in, 62, dt));
      Pair ya = empty_pair(out, dt);
      cpu_be().avg_pool2d(ya.c, xa.c, g);
      gpu_be().avg_pool2d(ya.g, xa.g, g);
      check_same(ya, tol_for(dt, {1e-6, 1e-6}), "avg_pool2d");
      Pair dxa = both(values(in, 63, dt));  // accumulates
      cpu_be().avg_pool2d_backward(dxa.c, dy.c, g);
      gpu_be().avg_pool2d_backward(dxa.g, dy.g, g);
      check_same(dxa, tol_for(dt, {1e-6, 1e-6}), "avg_pool2d_backward");
    }
}

TEST_CASE("random fills draw the CPU's numbers: Philox words bit for bit, uniforms exactly") {
  SKIP_WITHOUT_CUDA();
#ifdef MOCO_WITH_CUDA
  if (real_gpu()) {
  // Counters across the 2^32 boundary (the carry into the second word).
  const uint64_t offset = (uint64_t(1) << 32) - 500, seed = 0x0123456789abcdefull;
  std::vector<uint32_t> w = cuda::philox_words(seed, offset, 1000);
  bool same = true;
  for (int64_t i = 0; i < 1000 && same; ++i) {
    auto c = philox4x32(offset + uint64_t(i), seed);
    for (int k = 0; k < 4; ++k) same = same && w[size_t(4 * i + k)] == c[size_t(k)];
    if (!same) INFO("first difference at counter " << offset + uint64_t(i));
  }
  CHECK(same);
  }
#endif
  for (DType dt : kFloats)
    for (uint64_t s : {0ull, 7ull, 1ull << 40}) {
      Pair u = empty_pair({1001}, dt);
      cpu_be().rand_uniform(u.c, s, 12345, -2, 3);
      gpu_be().rand_uniform(u.g, s, 12345, -2, 3);
      check_same(u, {0, 0}, "rand_uniform");
      Pair n = empty_pair({1001}, dt);
      cpu_be().rand_normal(n.c, s, 999, 0.5, 2);
      gpu_be().rand_normal(n.g, s, 999, 0.5, 2);
      check_same(n, dt == DType::f64 ? Tol{1e-14, 1e-14} : Tol{1e-6, 1e-6}, "rand_normal");
    }
  // Whole generators: rand/randn/bernoulli/dropout masks agree across devices.
  Generator a(5), b(5);
  CHECK_GPU_CPU(randn({4, 5}, a, DType::f32, gpu()), randn({4, 5}, b, DType::f32), Tol({1e-6, 1e-6}));
  CHECK_GPU_CPU(bernoulli({64}, 0.3, a, DType::f32, gpu()), bernoulli({64}, 0.3, b, DType::f32), Tol({0, 0}));
}

TEST_CASE("device memory: freed blocks are reused, the peak is reported, out of memory says how much") {
  SKIP_WITHOUT_CUDA();
#ifdef MOCO_WITH_CUDA
  if (!real_gpu()) return;
  cuda::synchronize();
  cuda::reset_peak_memory();
  const auto before = cuda::memory_stats();
  {
    Tensor t = Tensor::empty({1 << 20}, DType::f32, gpu());  // 4 MiB
  }
  const auto mid = cuda::memory_stats();
  CHECK(mid.peak_in_use >= before.in_use + (size_t(4) << 20));
  CHECK(mid.in_use == before.in_use);
  {
    Tensor t = Tensor::empty({1 << 20}, DType::f32, gpu());
  }
  const auto after = cuda::memory_stats();
  CHECK(after.reuses > mid.reuses);
  CHECK(after.device_mallocs == mid.device_mallocs);
  std::string msg;
  try {
    Tensor huge = Tensor::empty({int64_t(1) << 50}, DType::f32, gpu());  // 4 PiB
  } catch (const Error& e) {
    msg = e.what();
  }
  INFO(msg);
  CHECK(msg.find("out of memory") != std::string::npos);
  CHECK(msg.find("asked for") != std::string::npos);
  CHECK(msg.find("free of") != std::string::npos);
  // and the device still works
  CHECK(Tensor::ones({3}, DType::f32, gpu()).to_vector<float>() == std::vector<float>{1, 1, 1});
  cuda::empty_cache();
  CHECK(cuda::memory_stats().cached == 0);
  CHECK_FALSE(cuda::device_name().empty());
  MESSAGE("GPU: " << cuda::device_name() << "; " << cuda::library_versions());
#endif
}
