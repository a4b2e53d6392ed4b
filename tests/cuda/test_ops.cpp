// Every differentiable op of autograd/ops.h, forward and backward, on the GPU
// against the CPU (check_op: same inputs, outputs compared, then the
// gradients of sum(out * w)). Non-contiguous and broadcast operands are made
// inside the op functions so both devices run the same views. float32 is the
// GPU's working dtype; float64 runs too where the op supports it, with tight
// tolerances, to catch kernel mistakes that float32 rounding could hide.
#include "cuda_test_util.h"

using namespace moco;
using namespace moco::testing;

namespace {
using In = std::vector<Tensor>;
const DType kFloats[] = {DType::f32, DType::f64};

Tensor positive(const Shape& s, uint64_t seed, DType dt) { return add(abs(rnd(s, seed, dt)), 0.1); }
// Values k/2 for integers k in [-3, 3]: comparisons see many ties.
Tensor grid(const Shape& s, uint64_t seed, DType dt) {
  Generator g(seed);
  return mul(randint(-3, 4, s, g).to(dt), 0.5);
}
}  // namespace

TEST_CASE("binary elementwise ops: same shapes, broadcasting, 0-d scalars, transposed operands") {
  SKIP_WITHOUT_CUDA();
  using Fn = Tensor (*)(const Tensor&, const Tensor&);
  const std::pair<const char*, Fn> ops[] = {{"add", add}, {"sub", sub}, {"mul", mul},
                                            {"div", div}, {"maximum", maximum}, {"minimum", minimum}};
  for (DType dt : kFloats)
    for (auto [name, fn] : ops) {
      CAPTURE(name);
      CAPTURE(dtype_name(dt));
      const Tol tol = tol_for(dt);
      auto b_of = [&](const Shape& s, uint64_t seed) {
        return std::string(name) == "div" ? positive(s, seed, dt) : rnd(s, seed, dt);
      };
      check_op(name, [fn](const In& x) { return fn(x[0], x[1]); }, {rnd({5, 6}, 1, dt), b_of({5, 6}, 2)}, tol);
      check_op(name, [fn](const In& x) { return fn(x[0], x[1]); }, {rnd({5, 6}, 3, dt), b_of({6}, 4)}, tol);
      check_op(name, [fn](const In& x) { return fn(x[0], x[1]); }, {rnd({4, 1, 3}, 5, dt), b_of({2, 1}, 6)}, tol);
      check_op(name, [fn](const In& x) { return fn(x[0], x[1]); }, {rnd({3, 4}, 7, dt), b_of({}, 8)}, tol);
      check_op(name, [fn](const In& x) { return fn(x[0].t(), x[1].t()); }, {rnd({6, 5}, 9, dt), b_of({6, 5}, 10)},
               tol);
      check_op(name, [fn](const In& x) { return fn(x[0].slice(1, 0, 8, 3), x[1]); },
               {rnd({4, 8}, 11, dt), b_of({4, 1}, 12)}, tol);
    }
}

TEST_CASE("scalar and unary ops, on contiguous and transposed inputs") {
  SKIP_WITHOUT_CUDA();
  for (DType dt : kFloats) {
    CAPTURE(dtype_name(dt));
    const Tol tol = tol_for(dt, {2e-6, 2e-5});
    struct U {
      const char* name;
      std::function<Tensor(const Tensor&)> f;
      bool positive;
    };
    const U ops[] = {
        {"add s", [](const Tensor& x) { return add(x, 1.5); }, false},
        {"mul s", [](const Tensor& x) { return mul(x, -2.5); }, false},
        {"rsub", [](const Tensor& x) { return rsub(x, 3.0); }, false},
        {"rdiv", [](const Tensor& x) { return rdiv(x, 2.0); }, true},
        {"operators", [](const Tensor& x) { return (2.0 - x) * 3.0 / 4.0 + x - 1.0; }, false},
        {"neg", [](const Tensor& x) { return neg(x); }, false},
        {"exp", [](const Tensor& x) { return exp(x); }, false},
        {"log", [](const Tensor& x) { return log(x); }, true},
        {"sqrt", [](const Tensor& x) { return sqrt(x); }, true},
        {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, true},
        {"abs", [](const Tensor& x) { return abs(x); }, false},
        {"tanh", [](const Tensor& x) { return tanh(x); }, false},
        {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, false},
        {"pow 3", [](const Tensor& x) { return pow(x, 3); }, false},
        {"pow 0.5", [](const Tensor& x) { return pow(x, 0.5); }, true},
        {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.8); }, false},
        {"clamp_min", [](const Tensor& x) { return clamp_min(x, 0.2); }, false},
        {"relu", [](const Tensor& x) { return relu(x); }, false},
        {"gelu", [](const Tensor& x) { return gelu(x); }, false},
    };
    for (const U& u : ops) {
      CAPTURE(u.name);
      Tensor x = u.positive ? positive({7, 9}, 20, dt) : rnd({7, 9}, 20, dt);
      check_op(u.name, [&u](const In& in) { return u.f(in[0]); }, {x}, tol);
      check_op(u.name, [&u](const In& in) { return u.f(in[0].t()); }, {x}, tol);
    }
  }
}

TEST_CASE("where and comparisons") {
  SKIP_WITHOUT_CUDA();
  for (DType dt : kFloats) {
    const Tol tol = tol_for(dt);
    check_op("where", [](const In& x) { return where(gt(x[0], 0.0), x[1], x[2]); },
             {rnd({4, 5}, 30, dt), rnd({4, 5}, 31, dt), rnd({5}, 32, dt)}, tol);
    const Tensor a = grid({6, 7}, 33, dt), b = grid({7}, 34, dt);
    using Fn = Tensor (*)(const Tensor&, const Tensor&);
    for (Fn f : {Fn(eq), Fn(ne), Fn(lt), Fn(le), Fn(gt), Fn(ge)})
      check_op("comparison", [f](const In& x) { return f(x[0], x[1]); }, {a, b}, {0, 0}, false);
    check_op("gt scalar", [](const In& x) { return gt(x[0], 0.5); }, {a}, {0, 0}, false);
    check_op("lt scalar", [](const In& x) { return lt(x[0], 0.5); }, {a}, {0, 0}, false);
  }
}

TEST_CASE("reductions: sum, mean, var, amax, amin, max, argmax, sum_to") {
  SKIP_WITHOUT_CUDA();
  for (DType dt : kFloats) {
    CAPTURE(dtype_name(dt));
    const Tol tol = tol_for(dt, {2e-5, 2e-5});
    const Tensor x = rnd({4, 5, 6}, 40, dt);
    const std::vector<std::vector<int64_t>> dim_sets = {{}, {0}, {1}, {2}, {0, 2}, {-1, -2}};
    for (const auto& dims : dim_sets)
      for (bool keep : {false, true}) {
        CAPTURE(dims.size());
        CAPTURE(keep);
        check_op("sum", [&](const In& in) { return sum(in[0], dims, keep); }, {x}, tol);
        check_op("mean", [&](const In& in) { return mean(in[0], dims, keep); }, {x}, tol);
        check_op("var", [&](const In& in) { return var(in[0], dims, true, keep); }, {x}, tol);
        check_op("amax", [&](const In& in) { return amax(in[0], dims, keep); }, {x}, tol);
        check_op("amin", [&](const In& in) { return amin(in[0].transpose(0, 2), dims, keep); }, {x}, tol);
      }
    for (int64_t d : {0, 1, -1}) {
      check_op("max values", [d](const In& in) { return max(in[0], d).first; }, {x}, tol);
      check_op("max indices", [d](const In& in) { return max(in[0], d, true).second; }, {x}, {0, 0}, false);
      check_op("argmax", [d](const In& in) { return argmax(in[0].transpose(0, 1), d); }, {x}, {0, 0}, false);
    }
    check_op("sum_to", [](const In& in) { return sum_to(in[0], {5, 1}); }, {x}, tol);
    check_op("sum of a long row", [](const In& in) { return sum(in[0]); }, {rnd({300000}, 41, dt)},
             tol_for(dt, {1e-3, 1e-5}));
  }
}

TEST_CASE("matmul and linear: 2-D, transposed, batched, broadcast batch dims, 1-D operands") {
  SKIP_WITHOUT_CUDA();
  for (DType dt : kFloats) {
    CAPTURE(dtype_name(dt));
    const Tol tol = tol_for(dt, {1e-4, 1e-4});
    auto mm = [](const In& x) { return matmul(x[0], x[1]); };
    check_op("matmul 2-D", mm, {rnd({7, 5}, 50, dt), rnd({5, 3}, 51, dt)}, tol);
    check_op("matmul aT b", [](const In& x) { return matmul(x[0].t(), x[1]); }, {rnd({5, 7}, 52, dt), rnd({5, 3}, 53, dt)},
             tol);
    check_op("matmul a bT", [](const In& x) { return matmul(x[0], x[1].t()); }, {rnd({7, 5}, 54, dt), rnd({3, 5}, 55, dt)},
             tol);
    check_op("matmul batched", mm, {rnd({3, 4, 5}, 56, dt), rnd({3, 5, 6}, 57, dt)}, tol);
    check_op("matmul broadcast batch", mm, {rnd({2, 1, 4, 5}, 58, dt), rnd({3, 5, 6}, 59, dt)}, tol);
    check_op("matmul batched transposed", [](const In& x) { return matmul(x[0], x[1].transpose(-1, -2)); },
             {rnd({2, 3, 4, 5}, 60, dt), rnd({2, 3, 6, 5}, 61, dt)}, tol);
    check_op("matmul 1-D @ 2-D", mm, {rnd({5}, 62, dt), rnd({5, 4}, 63, dt)}, tol);
    check_op("matmul 2-D @ 1-D", mm, {rnd({4, 5}, 64, dt), rnd({5}, 65, dt)}, tol);
    check_op("dot", mm, {rnd({9}, 66, dt), rnd({9}, 67, dt)}, tol);
    check_op("matmul large", mm, {rnd({130, 257}, 68, dt), rnd({257, 70}, 69, dt)}, tol_for(dt, {2e-4, 2e-4}));
    check_op("linear", [](const In& x) { return linear(x[0], x[1], x[2]); },
             {rnd({6, 5}, 70, dt), rnd({4, 5}, 71, dt), rnd({4}, 72, dt)}, tol);
    check_op("linear no bias, 3-D input", [](const In& x) { return linear(x[0], x[1]); },
             {rnd({2, 6, 5}, 73, dt), rnd({4, 5}, 74, dt)}, tol);
  }
}

TEST_CASE("indexing and joining: index_select, gather, scatter_add, index_copy, cat, stack, split, chunk") {
  SKIP_WITHOUT_CUDA();
  for (DType dt : kFloats) {
    const Tol tol = tol_for(dt);
    const Tensor x = rnd({5, 4, 3}, 80, dt);
    const Tensor perm = Tensor::from_vector(std::vector<int64_t>{2, 0, 4, 4, 1}, {5});
    for (int64_t d : {0, 2})
      check_op("index_select", [d](const In& in) { return index_select(in[0], d, in[1].narrow(0, 0, in[0].size(d) < 5 ? 2 : 5)); },
               {x, perm}, tol);
    Generator g(81);
    const Tensor gidx = randint(0, 4, {5, 2, 3}, g);
    check_op("gather", [](const In& in) { return gather(in[0], 1, in[1]); }, {x, gidx}, tol);
    check_op("scatter_add", [](const In& in) { return scatter_add(in[0], 1, in[2], in[1]); },
             {x, rnd({5, 2, 3}, 82, dt), gidx}, tol);
    const Tensor rows = Tensor::from_vector(std::vector<int64_t>{3, 0}, {2});
    check_op("index_copy", [](const In& in) { return index_copy(in[0], 0, in[2], in[1]); },
             {x, rnd({2, 4, 3}, 83, dt), rows}, tol);
    check_op("cat dim 0", [](const In& in) { return cat({in[0], in[1]}, 0); }, {x, rnd({2, 4, 3}, 84, dt)}, tol);
    check_op("cat dim 1 transposed", [](const In& in) { return cat({in[0].transpose(0, 1), in[1]}, 1); },
             {rnd({4, 5, 3}, 85, dt), rnd({5, 2, 3}, 86, dt)}, tol);
    check_op("stack", [](const In& in) { return stack({in[0], in[1]}, 1); }, {x, rnd({5, 4, 3}, 87, dt)}, tol);
    check_op("split", [](const In& in) { auto p = split(in[0], 2, 0); return mul(p[2], p[0].narrow(0, 0, 1)); }, {x},
             tol);
    check_op("chunk", [](const In& in) { auto p = chunk(in[0], 2, 1); return sub(p[0], p[1]); }, {x}, tol);
  }
  // index_copy_: the MoCo queue's in-place write (not recorded)
  Tensor q = rnd({6, 3}, 88, DType::f32), k = rnd({2, 3}, 89, DType::f32);
  Tensor qg = q.to(gpu());
  const Tensor at = Tensor::from_vector(std::vector<int64_t>{4, 1}, {2});
  index_copy_(q, 0, at, k);
  index_copy_(qg, 0, at.to(gpu()), k.to(gpu()));
  CHECK_GPU_CPU(qg, q, Tol({0, 0}));
}

TEST_CASE("activations and losses: softmax, log_softmax, dropout, cross_entropy, normalize") {
  SKIP_WITHOUT_CUDA();
  for (DType dt : kFloats) {
    const Tol tol = tol_for(dt, {2e-6, 2e-5});
    for (int64_t d : {-1, 0, 1}) {
      check_op("softmax", [d](const In& in) { return softmax(in[0], d); }, {rnd({5, 7, 4}, 90, dt)}, tol);
      check_op("log_softmax", [d](const In& in) { return log_softmax(in[0].transpose(0, 2), d); },
               {rnd({5, 7, 4}, 91, dt)}, tol);
    }
    check_op("softmax long rows", [](const In& in) { return softmax(mul(in[0], 4.0), -1); }, {rnd({3, 4097}, 92, dt)},
             tol);
    // The same generator state on both devices draws the same mask.
    check_op("dropout", [](const In& in) { Generator g(7); return dropout(in[0], 0.3, true, g); },
             {rnd({40, 30}, 93, dt)}, tol);
    Generator tg(94);
    const Tensor target = randint(0, 9, {12}, tg);
    for (double smoothing : {0.0, 0.1})
      check_op("cross_entropy", [smoothing](const In& in) { return cross_entropy(in[0], in[1], smoothing); },
               {mul(rnd({12, 9}, 95, dt), 3.0), target}, tol);
    // InfoNCE shape: K+1 logits, label 0
    check_op("cross_entropy wide", [](const In& in) { return cross_entropy(in[0], in[1]); },
             {mul(rnd({8, 4097}, 96, dt), 5.0), Tensor::zeros({8}, DType::i64)}, tol);
    for (int64_t d : {1, 0})
      check_op("normalize", [d](const In& in) { return normalize(in[0], d); }, {rnd({6, 5}, 97, dt)}, tol);
  }
}

TEST_CASE("conv2d: cuDNN in float32, im2col + GEMM in float64; stride, padding, dilation, groups, bias") {
  SKIP_WITHOUT_CUDA();
  struct Case {
    const char* name;
    Shape x, w;
    Conv2dOptions o;
    bool bias;
  };
  const Case cases[] = {
      {"3x3 pad 1", {2, 3, 8, 8}, {4, 3, 3, 3}, {1, 1, 1, 1, 1, 1, 1}, true},
      {"3x3 stride 2", {2, 3, 9, 9}, {5, 3, 3, 3}, {2, 2, 1, 1, 1, 1, 1}, false},
      {"3x2 dilation 2", {1, 2, 9, 8}, {3, 2, 3, 2}, {1, 1, 2, 1, 2, 2, 1}, true},
      {"groups 2", {2, 4, 6, 6}, {6, 2, 3, 3}, {1, 1, 1, 1, 1, 1, 2}, true},
      {"1x1", {3, 8, 5, 5}, {16, 8, 1, 1}, {1, 1, 0, 0, 1, 1, 1}, false},
      {"4x4 patch", {2, 3, 16, 16}, {8, 3, 4, 4}, {4, 4, 0, 0, 1, 1, 1}, true},
      {"resnet stem", {4, 3, 32, 32}, {16, 3, 3, 3}, {1, 1, 1, 1, 1, 1, 1}, false},
  };
  for (DType dt : kFloats)
    for (const Case& c : cases) {
      CAPTURE(c.name);
      CAPTURE(dtype_name(dt));
      std::vector<Tensor> in{rnd(c.x, 100, dt), rnd(c.w, 101, dt)};
      if (c.bias) in.push_back(rnd({c.w[0]}, 102, dt));
      const Conv2dOptions o = c.o;
      check_op(c.name, [o](const In& x) { return conv2d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), o); }, in,
               tol_for(dt, {1e-4, 1e-4}));
    }
  // A non-contiguous input (the op makes it contiguous) and a weight without grad.
  check_op("conv2d transposed input", [](const In& x) { return conv2d(x[0].transpose(2, 3), x[1].detach(), Tensor(), {}); },
           {rnd({2, 3, 7, 6}, 103, DType::f32), rnd({4, 3, 3, 3}, 104, DType::f32)}, {1e-4, 1e-4});
}

TEST_CASE("pooling: max, avg (count_include_pad on and off), adaptive avg") {
  SKIP_WITHOUT_CUDA();
  for (DType dt : kFloats) {
    const Tol tol = tol_for(dt);
    const Tensor x = rnd({2, 3, 9, 8}, 110, dt);
    check_op("max_pool2d 2/2", [](const In& in) { return max_pool2d(in[0], 2, 2); }, {x}, tol);
    check_op("max_pool2d 3/2 pad 1", [](const In& in) { return max_pool2d(in[0], 3, 2, 1); }, {x}, tol);
    check_op("max_pool2d 3/1 pad 1", [](const In& in) { return max_pool2d(in[0], 3, 1, 1); }, {x}, tol);
    check_op("avg_pool2d", [](const In& in) { return avg_pool2d(in[0], 3, 2, 1, true); }, {x}, tol);
    check_op("avg_pool2d no pad count", [](const In& in) { return avg_pool2d(in[0], 3, 2, 1, false); }, {x}, tol);
    check_op("adaptive 1x1", [](const In& in) { return adaptive_avg_pool2d(in[0], 1, 1); }, {x}, tol);
    check_op("adaptive 3x3", [](const In& in) { return adaptive_avg_pool2d(in[0], 3, 3); }, {rnd({2, 3, 9, 9}, 111, dt)},
             tol);
  }
}

TEST_CASE("batch_norm in training (running statistics updated) and evaluation, layer_norm, attention") {
  SKIP_WITHOUT_CUDA();
  for (DType dt : kFloats) {
    CAPTURE(dtype_name(dt));
    const Tol tol = tol_for(dt, {2e-5, 2e-4});
    for (const Shape& s : {Shape{8, 4, 5, 5}, Shape{16, 6}, Shape{32, 3, 16, 16}})
      for (bool affine : {true, false})
        for (bool training : {true, false}) {
          CAPTURE(shape_str(s));
          CAPTURE(affine);
          CAPTURE(training);
          const int64_t C = s[1];
          const Tensor rm = rnd({C}, 120, dt), rv = positive({C}, 121, dt);
          std::vector<Tensor> in{add(mul(rnd(s, 122, dt), 2.0), 1.0), rm, rv};
          if (affine) {
            in.push_back(rnd({C}, 123, dt));
            in.push_back(rnd({C}, 124, dt));
          }
          auto sides = check_op(
              "batch_norm",
              [training](const In& x) {
                return batch_norm(x[0], x[1].detach(), x[2].detach(), x.size() > 3 ? x[3] : Tensor(),
                                  x.size() > 3 ? x[4] : Tensor(), training, 0.1, 1e-5);
              },
              in, tol);
          CHECK_GPU_CPU(sides.gpu[1].detach(), sides.cpu[1].detach(), tol);  // running mean
          CHECK_GPU_CPU(sides.gpu[2].detach(), sides.cpu[2].detach(), tol);  // running var
        }
    check_op("layer_norm", [](const In& x) { return layer_norm(x[0], 1, x[1], x[2], 1e-6); },
             {rnd({3, 5, 8}, 125, dt), rnd({8}, 126, dt), rnd({8}, 127, dt)}, tol);
    check_op("layer_norm 2 dims, no affine", [](const In& x) { return layer_norm(x[0].transpose(0, 1), 2, Tensor(), Tensor()); },
             {rnd({4, 3, 6}, 128, dt)}, tol);
    check_op("attention", [](const In& x) { return scaled_dot_product_attention(x[0], x[1], x[2]); },
             {rnd({2, 5, 8}, 129, dt), rnd({2, 7, 8}, 130, dt), rnd({2, 7, 4}, 131, dt)}, tol);
    check_op("self-attention 4-D", [](const In& x) { return scaled_dot_product_attention(x[0], x[0], x[0]); },
             {rnd({2, 3, 65, 16}, 132, dt)}, tol);
  }
}

TEST_CASE("views and copies: reshape, permute, narrow, slice, select, expand, contiguous, clone, to(dtype)") {
  SKIP_WITHOUT_CUDA();
  const Tol tol = tol_for(DType::f32);
  const Tensor x = rnd({4, 6, 5}, 140, DType::f32);
  check_op("reshape", [](const In& in) { return mul(in[0].reshape({6, 20}), 2.0); }, {x}, tol);
  check_op("view/flatten", [](const In& in) { return exp(in[0].flatten(1)); }, {x}, tol);
  check_op("permute", [](const In& in) { return in[0].permute({2, 0, 1}).contiguous(); }, {x}, tol);
  check_op("transpose reshape", [](const In& in) { return in[0].transpose(0, 2).reshape({120}); }, {x}, tol);
  check_op("narrow/select", [](const In& in) { return in[0].narrow(1, 2, 3).select(2, 4); }, {x}, tol);
  check_op("slice step", [](const In& in) { return in[0].slice(1, 1, 6, 2); }, {x}, tol);
  check_op("unsqueeze/squeeze/expand", [](const In& in) {
             return mul(in[0].select(0, 1).unsqueeze(0).expand({3, 6, 5}), in[1]).squeeze();
           }, {x, rnd({3, 6, 5}, 141, DType::f32)}, tol);
  check_op("clone", [](const In& in) { return in[0].t().clone(); }, {rnd({5, 7}, 142, DType::f32)}, tol);
  check_op("to float64 and back", [](const In& in) { return mul(in[0].to(DType::f64), 3.0).to(DType::f32); }, {x}, tol);
}
