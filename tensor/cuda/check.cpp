#include "tensor/cuda/check.h"

#include <cstring>
#include <string>

#include "tensor/error.h"

namespace moco::cuda {

namespace {
// The path from the repository root ("tensor/cuda/gemm.cpp"), not the build machine's.
const char* short_path(const char* file) {
  const char* p = std::strstr(file, "tensor/");
  return p ? p : file;
}

// Errors that an earlier, asynchronous kernel may have caused.
bool maybe_async(cudaError_t err) {
  switch (err) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorMisalignedAddress:
    case cudaErrorIllegalInstruction:
    case cudaErrorAssert:
    case cudaErrorHardwareStackError:
    case cudaErrorInvalidPc:
    case cudaErrorLaunchTimeout: return true;
    default: return false;
  }
}
}  // namespace

void fail_cuda(cudaError_t err, const char* expr, const char* file, int line) {
  cudaGetLastError();  // clear a non-sticky error so later calls start clean
  std::string hint;
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver)
    hint = "; no usable CUDA GPU is present (check nvidia-smi)";
  else if (maybe_async(err))
    hint = "; the failing kernel may be an earlier asynchronous one: rerun with CUDA_LAUNCH_BLOCKING=1 to find it";
  throw Error(fmt::format("CUDA error {} ({}) in {} at {}:{}{}", cudaGetErrorName(err), cudaGetErrorString(err), expr,
                          short_path(file), line, hint));
}

void fail_cublas(cublasStatus_t st, const char* expr, const char* file, int line) {
  throw Error(fmt::format("cuBLAS error {} ({}) in {} at {}:{}", cublasGetStatusName(st), cublasGetStatusString(st),
                          expr, short_path(file), line));
}

void fail_cudnn(cudnnStatus_t st, const char* expr, const char* file, int line) {
  throw Error(fmt::format("cuDNN error {} ({}) in {} at {}:{}", int(st), cudnnGetErrorString(st), expr,
                          short_path(file), line));
}

}  // namespace moco::cuda
