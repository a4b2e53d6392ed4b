// Return-code checks for every CUDA runtime, cuBLAS and cuDNN call. A failure
// throws moco::Error naming the call, the file and line, and the library's
// own error name and string:
//
//   MOCO_CUDA_CHECK(cudaMemcpyAsync(...));
//   MOCO_CUBLAS_CHECK(cublasSgemmStridedBatched(...));
//   MOCO_CUDNN_CHECK(cudnnConvolutionForward(...));
//   MOCO_CUDA_CHECK_LAUNCH();   // after every <<<...>>> launch
//
// Kernels run asynchronously: an error inside a kernel surfaces at a later
// call, so messages of errors that can be asynchronous say so and suggest
// CUDA_LAUNCH_BLOCKING=1 to find the kernel.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

namespace moco::cuda {

[[noreturn]] void fail_cuda(cudaError_t err, const char* expr, const char* file, int line);
[[noreturn]] void fail_cublas(cublasStatus_t st, const char* expr, const char* file, int line);
[[noreturn]] void fail_cudnn(cudnnStatus_t st, const char* expr, const char* file, int line);

inline void check_cuda(cudaError_t err, const char* expr, const char* file, int line) {
  if (err != cudaSuccess) fail_cuda(err, expr, file, line);
}
inline void check_cublas(cublasStatus_t st, const char* expr, const char* file, int line) {
  if (st != CUBLAS_STATUS_SUCCESS) fail_cublas(st, expr, file, line);
}
inline void check_cudnn(cudnnStatus_t st, const char* expr, const char* file, int line) {
  if (st != CUDNN_STATUS_SUCCESS) fail_cudnn(st, expr, file, line);
}

}  // namespace moco::cuda

#define MOCO_CUDA_CHECK(expr) ::moco::cuda::check_cuda((expr), #expr, __FILE__, __LINE__)
#define MOCO_CUBLAS_CHECK(expr) ::moco::cuda::check_cublas((expr), #expr, __FILE__, __LINE__)
#define MOCO_CUDNN_CHECK(expr) ::moco::cuda::check_cudnn((expr), #expr, __FILE__, __LINE__)
#define MOCO_CUDA_CHECK_LAUNCH() ::moco::cuda::check_cuda(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)
