// CUDA backend entry point. This stage only probes the device and the
// libraries (so the CUDA build compiles and links everywhere); the kernels
// arrive with the CUDA issue, and until then using a CUDA device is an error
// that says so.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "tensor/backend.h"

namespace moco {

namespace {
__global__ void fill_kernel(float* p, int64_t n, float v) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) p[i] = v;
}
}  // namespace

// Library versions, for `moco --version`-style reports and to prove linkage.
std::string cuda_library_versions() {
  int rt = 0;
  cudaRuntimeGetVersion(&rt);
  return fmt::format("CUDA runtime {}, cuDNN {}", rt, cudnnGetVersion());
}

// Smoke test used by tools/gpu-check.sh: fills a device buffer and reads it back.
bool cuda_smoke_test() {
  float* d = nullptr;
  if (cudaMalloc(&d, 256 * sizeof(float)) != cudaSuccess) return false;
  fill_kernel<<<1, 256>>>(d, 256, 3.0f);
  float h[256];
  bool ok = cudaMemcpy(h, d, sizeof(h), cudaMemcpyDeviceToHost) == cudaSuccess && h[255] == 3.0f;
  cublasHandle_t handle;
  ok = ok && cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS;
  if (ok) cublasDestroy(handle);
  cudaFree(d);
  return ok;
}

Backend& cuda_backend(int index) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  MOCO_CHECK(err == cudaSuccess && count > 0, "device cuda:{}: no CUDA GPU is present ({})", index,
             err == cudaSuccess ? "0 devices" : cudaGetErrorString(err));
  MOCO_CHECK(index < count, "device cuda:{}: only {} CUDA device(s) present", index, count);
  fail("device cuda:{}: the CUDA kernels are not implemented yet in this build ({}); use --device cpu", index,
       cuda_library_versions());
}

}  // namespace moco
