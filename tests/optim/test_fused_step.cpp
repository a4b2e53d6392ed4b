// fused_step (optim/fused.h), the one implementation of every optimiser and
// EMA formula (tensor/optim_step.h): strided tensors give the same bits as
// contiguous ones, bad arguments are refused, and where a CUDA GPU is present
// every optimiser's steps on it match the CPU's.
#include <doctest/doctest.h>

#include <functional>

#include "contrastive/momentum.h"
#include "optim/fused.h"
#include "optim/optim.h"
#include "test_util.h"
#ifdef MOCO_WITH_CUDA
#include "tensor/cuda/cuda_api.h"
#endif

using namespace moco;
using namespace moco::optim;
using moco::testing::rnd;

namespace {

std::vector<OptimStep> every_formula() {
  std::vector<OptimStep> out;
  OptimStep s;
  s.kind = OptimKind::ema;
  s.momentum = 0.9;
  out.push_back(s);
  s = {};
  s.kind = OptimKind::sgd;
  s.lr = 0.1, s.weight_decay = 1e-2, s.momentum = 0.9, s.nesterov = true;
  out.push_back(s);
  s = {};
  s.kind = OptimKind::adamw;
  s.lr = 1e-2, s.weight_decay = 0.05, s.beta1 = 0.9, s.beta2 = 0.999, s.eps = 1e-8, s.step_size = 0.1,
  s.bias_correction2_sqrt = 0.05;
  out.push_back(s);
  s = {};
  s.kind = OptimKind::lars;
  s.lr = 0.3, s.weight_decay = 1e-3, s.momentum = 0.9, s.trust = 0.001, s.adapt = true;
  out.push_back(s);
  return out;
}

// A [rows, cols] tensor that is the transpose of its storage (not contiguous).
Tensor transposed(const Tensor& t) { return t.t().contiguous().t(); }

}  // namespace

TEST_CASE("fused_step: strided views give the same bits as contiguous tensors") {
  for (DType dt : {DType::f32, DType::f64})
    for (const OptimStep& s : every_formula()) {
      CAPTURE(int(s.kind));
      Tensor p = rnd({6, 5}, 1, dt), g = rnd({6, 5}, 2, dt), s1 = rnd({6, 5}, 3, dt), s2 = abs(rnd({6, 5}, 4, dt));
      Tensor pt = transposed(p), gt = transposed(g), s1t = transposed(s1), s2t = transposed(s2);
      REQUIRE_FALSE(pt.is_contiguous());
      const bool two = s.kind == OptimKind::adamw, one = s.kind != OptimKind::ema;
      fused_step(s, p, g, one ? s1 : Tensor(), two ? s2 : Tensor());
      fused_step(s, pt, gt, one ? s1t : Tensor(), two ? s2t : Tensor());
      CHECK_CLOSE(pt, p, 0, 0);
      CHECK_CLOSE(s1t, s1, 0, 0);
      CHECK_CLOSE(s2t, s2, 0, 0);
    }
}

TEST_CASE("fused_step refuses mismatched tensors and integer parameters") {
  OptimStep s;
  s.kind = OptimKind::sgd;
  s.momentum = 0.9;
  Tensor p = Tensor::zeros({3}), g = Tensor::zeros({4});
  CHECK_THROWS_CONTAINS(fused_step(s, p, g), "the gradient is [4] float32 on cpu, the parameter [3]");
  CHECK_THROWS_CONTAINS(fused_step(s, p, Tensor::zeros({3}), Tensor::zeros({3}, DType::f64)),
                        "the state is [3] float64");
  CHECK_THROWS_CONTAINS(fused_step(s, Tensor::zeros({3}, DType::i64), Tensor::zeros({3}, DType::i64)),
                        "only floating tensors update");
  // A float64 gradient of a float32 parameter is cast, as the parameter's dtype rules.
  s.momentum = 0;
  s.lr = 0.5;
  Tensor q = Tensor::ones({3});
  fused_step(s, q, Tensor::ones({3}, DType::f64));
  CHECK_CLOSE(q, Tensor::full({3}, 0.5), 0, 0);
}

TEST_CASE("every optimiser and the EMA on a CUDA GPU match the CPU") {
#ifdef MOCO_WITH_CUDA
  const bool gpu = cuda::device_count() > 0;
#else
  const bool gpu = false;
#endif
  if (!gpu) {
    MESSAGE("skipped: no CUDA GPU");
    return;
  }
  using Make = std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>&)>;
  const std::vector<std::pair<std::string, Make>> cases = {
      {"sgd", [](auto& ps) { return std::make_unique<SGD>(ps, SGDConfig{0.1, 0.9, 0.1, 1e-3, false}); }},
      {"nesterov", [](auto& ps) { return std::make_unique<SGD>(ps, SGDConfig{0.1, 0.9, 0, 1e-3, true}); }},
      {"adamw", [](auto& ps) { return std::make_unique<AdamW>(ps, AdamWConfig{1e-2, 0.9, 0.999, 1e-8, 0.05}); }},
      {"lars", [](auto& ps) { return std::make_unique<LARS>(ps, LARSConfig{0.3, 1e-3, 0.9, 0.001}); }},
  };
  for (DType dt : {DType::f32, DType::f64})
    for (auto& [name, make] : cases) {
      CAPTURE(name);
      const double tol = dt == DType::f32 ? 1e-5 : 1e-12;
      const std::vector<Shape> shapes = {{70001}, {300, 257}, {33}, {4, 3, 3, 3}};
      std::vector<Tensor> cpu, gpu_ps;
      for (size_t i = 0; i < shapes.size(); ++i) {
        cpu.push_back(rnd(shapes[i], 10 + i, dt).requires_grad_());
        gpu_ps.push_back(cpu.back().detach().to(Device::cuda(0)).requires_grad_());
      }
      auto a = make(cpu), b = make(gpu_ps);
      for (int step = 0; step < 3; ++step) {
        for (size_t i = 0; i < shapes.size(); ++i) {
          Tensor g = rnd(shapes[i], 100 + 10 * step + i, dt);
          cpu[i].set_grad(g);
          gpu_ps[i].set_grad(g.to(Device::cuda(0)));
        }
        a->step();
        b->step();
      }
      for (size_t i = 0; i < shapes.size(); ++i)
        CHECK_CLOSE(gpu_ps[i].detach().to(Device::cpu()), cpu[i].detach(), tol, tol);
    }
  Tensor k = rnd({70001}, 1, DType::f32), q = rnd({70001}, 2, DType::f32);
  Tensor kg = k.to(Device::cuda(0)), qg = q.to(Device::cuda(0));
  contrastive::ema_(k, q, 0.99);
  contrastive::ema_(kg, qg, 0.99);
  CHECK_CLOSE(kg.to(Device::cpu()), k, 1e-6, 1e-6);
}
