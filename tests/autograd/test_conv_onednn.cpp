// float32 CPU convolutions run on oneDNN when the build has it; im2col + GEMM
// (the oracle, and what float64 gradchecks use) must give the same output and
// gradients on every geometry conv2d accepts.
#include "tensor/cpu/cpu_backend.h"
#include "test_util.h"

using namespace moco;
using namespace moco::testing;

#ifdef MOCO_WITH_DNNL
namespace {
struct Grads {
  Tensor y, dx, dw, db;
};

Grads run(bool library, const Tensor& x0, const Tensor& w0, const Tensor& b0, const Tensor& gy,
          const Conv2dOptions& o) {
  auto& cpu = dynamic_cast<cpu::CpuBackend&>(backend_for(Device::cpu()));
  const bool before = cpu.conv_library;
  cpu.conv_library = library;
  Tensor x = x0.detach().requires_grad_(), w = w0.detach().requires_grad_();
  Tensor b = b0.defined() ? b0.detach().requires_grad_() : Tensor();
  Tensor y = conv2d(x, w, b, o);
  y.backward(gy);
  cpu.conv_library = before;
  return {y.detach(), x.grad(), w.grad(), b.defined() ? b.grad() : Tensor()};
}
}  // namespace

TEST_CASE("conv2d: oneDNN equals im2col + GEMM in float32; stride, padding, dilation, groups, bias, ResNet shapes") {
  struct Case {
    const char* name;
    Shape x, w;
    Conv2dOptions o;  // stride h/w, pad h/w, dilation h/w, groups
    bool bias;
  };
  const Case cases[] = {
      {"3x3 pad 1", {2, 3, 8, 8}, {4, 3, 3, 3}, {1, 1, 1, 1, 1, 1, 1}, true},
      {"3x3 stride 2 (odd input: a dropped row)", {2, 3, 9, 9}, {5, 3, 3, 3}, {2, 2, 1, 1, 1, 1, 1}, false},
      {"3x2 dilation 2", {1, 2, 9, 8}, {3, 2, 3, 2}, {1, 1, 2, 1, 2, 2, 1}, true},
      {"groups 2", {2, 4, 6, 6}, {6, 2, 3, 3}, {1, 1, 1, 1, 1, 1, 2}, true},
      {"1x1 stride 2 (ResNet downsample)", {3, 16, 8, 8}, {32, 16, 1, 1}, {2, 2, 0, 0, 1, 1, 1}, false},
      {"4x4 patch (ViT)", {2, 3, 16, 16}, {8, 3, 4, 4}, {4, 4, 0, 0, 1, 1, 1}, true},
      {"7x7 stride 2 stem", {2, 3, 20, 20}, {8, 3, 7, 7}, {2, 2, 3, 3, 1, 1, 1}, false},
      {"64 channels 3x3 (ResNet layer)", {4, 64, 8, 8}, {64, 64, 3, 3}, {1, 1, 1, 1, 1, 1, 1}, false},
      // 3.2M output values per image: the forward runs image by image (chunks).
      {"large maps, forward in chunks", {3, 1, 730, 730}, {6, 1, 3, 3}, {1, 1, 1, 1, 1, 1, 1}, true},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const Tensor x = rnd(c.x, 1, DType::f32);
    const Tensor w = mul(rnd(c.w, 2, DType::f32), 0.2).detach();
    const Tensor b = c.bias ? rnd({c.w[0]}, 3, DType::f32) : Tensor();
    const Tensor y_shape = conv2d(x, w, Tensor(), c.o);
    const Tensor gy = rnd(y_shape.shape(), 4, DType::f32);
    const Grads lib = run(true, x, w, b, gy, c.o), ref = run(false, x, w, b, gy, c.o);
    CHECK_CLOSE(lib.y, ref.y, 1e-4, 1e-4);
    CHECK_CLOSE(lib.dx, ref.dx, 1e-4, 1e-4);
    // dw and db sum over every output position: both float32 paths against
    // float64. oneDNN sums in float32 as it goes, so over the 1.6M terms of the
    // large case it drifts by ~4e-4 relative (PyTorch's convolutions are the
    // same code); the tolerance grows with the number of terms.
    const auto f64 = [](const Tensor& t) { return t.defined() ? t.to(DType::f64) : Tensor(); };
    const Grads exact = run(false, f64(x), f64(w), f64(b), f64(gy), c.o);
    const double terms = double(gy.numel() / gy.size(1));
    const double rtol = std::max(1e-4, 1e-9 * terms);
    for (const Grads* g : {&lib, &ref}) {
      CHECK_CLOSE(f64(g->dw), exact.dw, 1e-3, rtol);
      if (c.bias) CHECK_CLOSE(f64(g->db), exact.db, 1e-3, rtol);
    }
  }
}

TEST_CASE("conv2d: float64 and non-contiguous inputs still take im2col + GEMM and agree") {
  // oneDNN has no float64 kernels; the op must fall back, not fail.
  const Tensor x = rnd({2, 3, 6, 7}, 5);
  const Tensor w = rnd({4, 3, 3, 3}, 6);
  Conv2dOptions o;
  o.pad_h = o.pad_w = 1;
  const Tensor gy = rnd({2, 4, 6, 7}, 7);
  const Grads lib = run(true, x, w, Tensor(), gy, o), ref = run(false, x, w, Tensor(), gy, o);
  CHECK(lib.y.dtype() == DType::f64);
  CHECK_CLOSE(lib.y, ref.y, 1e-12, 1e-12);
  CHECK_CLOSE(lib.dw, ref.dw, 1e-12, 1e-12);
  // A transposed float32 view: conv2d makes it contiguous first.
  const Tensor xt = rnd({2, 3, 7, 6}, 8, DType::f32).transpose(2, 3);
  const Tensor w32 = rnd({4, 3, 3, 3}, 9, DType::f32);
  const Tensor gy32 = rnd({2, 4, 6, 7}, 10, DType::f32);
  const Grads a = run(true, xt, w32, Tensor(), gy32, o), b = run(false, xt, w32, Tensor(), gy32, o);
  CHECK_CLOSE(a.y, b.y, 1e-4, 1e-4);
  CHECK_CLOSE(a.dx, b.dx, 1e-4, 1e-4);
}

TEST_CASE("MOCO_CPU_CONV picks the convolution path and rejects other values") {
  unsetenv("MOCO_CPU_CONV");
  CHECK(cpu::CpuBackend::conv_library_default());
  setenv("MOCO_CPU_CONV", "im2col", 1);
  CHECK_FALSE(cpu::CpuBackend::conv_library_default());
  setenv("MOCO_CPU_CONV", "onednn", 1);
  CHECK(cpu::CpuBackend::conv_library_default());
  setenv("MOCO_CPU_CONV", "fast", 1);
  CHECK_THROWS_WITH_AS(cpu::CpuBackend::conv_library_default(), doctest::Contains("expected onednn or im2col"),
                       std::exception);
  unsetenv("MOCO_CPU_CONV");
}
#endif
