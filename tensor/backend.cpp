#include "tensor/backend.h"

#include <cblas.h>
#include <omp.h>

#include "tensor/cpu/cpu_backend.h"

namespace moco {

#ifdef MOCO_WITH_CUDA
namespace cuda {
// The CUDA plugin's backend, loaded on first use (tensor/cuda/loader.cpp).
Backend& loaded_backend(int index);
}  // namespace cuda
#endif

Backend& backend_for(Device device) {
  if (device.is_cpu()) {
    // Never destroyed: tensors held in static objects are freed after the
    // end of main, and their storage must still find its backend then.
    static cpu::CpuBackend* cpu = new cpu::CpuBackend;
    return *cpu;
  }
#ifdef MOCO_WITH_CUDA
  return cuda::loaded_backend(device.index);
#elif defined(MOCO_STATIC_BUILD)
  fail("device {}: this moco.cpp was built without CUDA: the static build (-DMOCO_STATIC=ON) has none; build it "
       "without MOCO_STATIC (its CUDA plugin libmoco_cuda.so needs nvcc, cuBLAS and cuDNN), or use --device cpu",
       device.str());
#else
  fail("device {}: this moco.cpp was built without CUDA (configure with -DMOCO_CUDA=ON on a machine with nvcc, "
       "cuBLAS and cuDNN: that builds the CUDA plugin libmoco_cuda.so), or use --device cpu",
       device.str());
#endif
}

#ifdef MOCO_STATIC_BUILD
// A static binary loads no shared library. libgomp.a still calls dlopen (for
// offloading plugins and the OpenACC profiling libraries that ACC_PROFLIB
// names; moco uses neither), and glibc warns at link time that a static
// dlopen needs glibc's shared libraries at run time. The static build links
// with --wrap=dlopen (CMakeLists.txt): those calls come here and fail.
extern "C" void* __wrap_dlopen(const char* /*file*/, int /*mode*/) { return nullptr; }
#endif

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    try {
      return cuda(std::stoi(s.substr(5)));
    } catch (const std::exception&) {
    }
  }
  fail("unknown device '{}': expected cpu, cuda or cuda:N", s);
}

void set_num_threads(int n) {
  MOCO_CHECK(n >= 1, "threads must be at least 1, got {}", n);
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int get_num_threads() { return omp_get_max_threads(); }

}  // namespace moco
