// Helpers of the CUDA suite: every test runs an op on the CPU (the oracle)
// and on the GPU with the same inputs and compares the results under the one
// tolerance policy (tensor/compare.h). Where no GPU is present (or the build
// has no CUDA backend) every test case prints "skipped: no CUDA GPU" and
// returns, so the suite still builds and passes everywhere.
//
// Dry run: with MOCO_CUDA_TEST_DRYRUN=1 the "GPU" side is the CPU as well.
// Nothing of CUDA is tested then, but every test's own code (shapes, views,
// tolerances) runs, so the suite can be checked on machines without a GPU
// before the minutes on one are spent. CTest runs it as `cuda_dryrun`.
#pragma once
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "test_util.h"
#ifdef MOCO_WITH_CUDA
#include "tensor/cuda/cuda_api.h"
#endif

namespace moco::testing {

inline bool dry_run() {
  static const bool on = [] {
    const char* v = std::getenv("MOCO_CUDA_TEST_DRYRUN");
    return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
  }();
  return on;
}

// A real CUDA GPU to test on.
inline bool real_gpu() {
#ifdef MOCO_WITH_CUDA
  return !dry_run() && cuda::device_count() > 0;
#else
  return false;
#endif
}

// Whether the tests run: a real GPU, or the dry run.
inline bool cuda_present() { return dry_run() || real_gpu(); }

inline std::string cuda_skip_reason() {
#ifdef MOCO_WITH_CUDA
  // Which piece is missing: the plugin, the CUDA libraries, the driver or a GPU.
  return "skipped: no CUDA GPU (" + cuda::unavailable_reason() + ")";
#else
  return "skipped: no CUDA GPU (this build has no CUDA backend: configure with -DMOCO_CUDA=ON)";
#endif
}

// The device under test: cuda:0 (the CPU in a dry run).
inline Device gpu() { return dry_run() ? Device::cpu() : Device::cuda(0); }

// Float inputs drawn from N(0, 1) (seeded, on the CPU).
inline Tensor randn_f(const Shape& shape, uint64_t seed, DType dtype = DType::f32) { return rnd(shape, seed, dtype); }

// Tolerances per dtype: float32 kernels differ from the CPU's by rounding
// (different summation orders, FMA, libm vs libdevice); float64 ones barely.
struct Tol {
  double atol, rtol;
};
inline Tol tol_for(DType dt, Tol f32 = {1e-5, 1e-4}) {
  return dt == DType::f64 ? Tol{1e-10, 1e-9} : f32;
}

// Runs f on CPU leaves and on GPU copies of them, compares the outputs, then
// backpropagates sum(out * w) for a fixed random w on both and compares the
// gradient of every floating input. Non-contiguous or broadcast operands are
// made inside f (transpose, slice, expand) so both devices see the same views.
// Returns the inputs of both sides (CPU, GPU), for ops that update some in place.
using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;
struct OpInputs {
  std::vector<Tensor> cpu, gpu;
};
inline OpInputs check_op(const std::string& name, const OpFn& f, const std::vector<Tensor>& inputs, Tol tol,
                     bool backward = true, Tol grad_tol = {-1, -1}) {
  if (grad_tol.atol < 0) grad_tol = tol;
  std::vector<Tensor> cpu_in, gpu_in;
  for (const Tensor& t : inputs) {
    const bool grad = backward && is_floating(t.dtype());
    Tensor c = t.detach().clone(), g = t.detach().to(gpu());
    if (grad) {
      c.requires_grad_();
      g.requires_grad_();
    }
    cpu_in.push_back(c);
    gpu_in.push_back(g);
  }
  Tensor yc = f(cpu_in), yg = f(gpu_in);
  REQUIRE_MESSAGE(yg.device() == gpu(), name << ": the GPU result is on " << yg.device().str());
  {
    auto r = allclose(yg, yc, tol.atol, tol.rtol, name + " (forward)");
    INFO(r.message);
    CHECK_MESSAGE(r.ok, name);
  }
  if (!backward || !is_floating(yc.dtype()) || !yc.requires_grad()) return {cpu_in, gpu_in};
  Tensor w = rnd(yc.shape(), 777, yc.dtype());
  sum(mul(yc, w)).backward();
  sum(mul(yg, w.to(gpu()))).backward();
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!cpu_in[i].requires_grad()) continue;
    Tensor gc = cpu_in[i].grad(), gg = gpu_in[i].grad();
    CHECK_MESSAGE(gc.defined() == gg.defined(), name << ": gradient of input " << i << " defined on one device only");
    if (!gc.defined() || !gg.defined()) continue;
    auto r = allclose(gg, gc, grad_tol.atol, grad_tol.rtol, name + " (gradient of input " + std::to_string(i) + ")");
    INFO(r.message);
    CHECK_MESSAGE(r.ok, name);
  }
  return {cpu_in, gpu_in};
}

// Compares a GPU tensor with the CPU one (any dtypes) under the policy.
#define CHECK_GPU_CPU(gpu_t, cpu_t, tol)                                                       \
  do {                                                                                         \
    auto report_ = ::moco::allclose((gpu_t), (cpu_t), (tol).atol, (tol).rtol, #gpu_t);         \
    INFO(report_.message);                                                                     \
    CHECK(report_.ok);                                                                         \
  } while (0)

}  // namespace moco::testing

// The first line of every CUDA test case.
#define SKIP_WITHOUT_CUDA()                                    \
  do {                                                         \
    if (!::moco::testing::cuda_present()) {                    \
      MESSAGE(std::string(::moco::testing::cuda_skip_reason())); \
      return;                                                  \
    }                                                          \
  } while (0)
