#include "tensor/backend.h"

#include <cblas.h>
#include <omp.h>

#include "tensor/cpu/cpu_backend.h"

namespace moco {

#ifdef MOCO_WITH_CUDA
Backend& cuda_backend(int index);  // tensor/cuda/
#endif

Backend& backend_for(Device device) {
  if (device.is_cpu()) {
    // Never destroyed: tensors held in static objects are freed after the
    // end of main, and their storage must still find its backend then.
    static cpu::CpuBackend* cpu = new cpu::CpuBackend;
    return *cpu;
  }
#ifdef MOCO_WITH_CUDA
  return cuda_backend(device.index);
#else
  fail("device {}: this moco.cpp was built without CUDA (configure with -DMOCO_CUDA=ON on a machine with nvcc, "
       "cuBLAS and cuDNN)",
       device.str());
#endif
}

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
