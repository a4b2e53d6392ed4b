// The CUDA backend's set-up, memory and host<->device copies, and the
// plugin's entry point: the table of tensor/cuda/plugin.h that the loader
// (tensor/cuda/loader.cpp, in the core) calls through.
#include "tensor/cuda/cuda_backend.h"

#include <dlfcn.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "tensor/cuda/check.h"
#include "tensor/cuda/plugin.h"

namespace moco {

namespace cuda {

namespace {
constexpr int kMaxDevices = 16;

// Device count, probed once. A machine without a GPU or driver has 0, and
// `why` says which of the two is missing, in words for the user.
struct Probe {
  int count = 0;
  std::string why;
};

std::string no_gpu_reason(cudaError_t err) {
  // The runtime reaches the driver through libcuda.so.1 (installed with the
  // NVIDIA kernel driver, not with the toolkit).
  void* libcuda = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD);
  if (libcuda == nullptr) libcuda = dlopen("libcuda.so.1", RTLD_LAZY);
  if (libcuda == nullptr)
    return "the NVIDIA driver is missing (libcuda.so.1 cannot be loaded; the CUDA libraries are there). Install "
           "the NVIDIA driver (nvidia-smi then lists the GPU), or use --device cpu";
  int drv = 0, rt = 0;
  cudaDriverGetVersion(&drv);
  cudaRuntimeGetVersion(&rt);
  if (err == cudaErrorInsufficientDriver)
    return fmt::format("the NVIDIA driver supports CUDA {}.{} but this build's CUDA runtime is {}.{}: update the "
                       "driver, or use --device cpu", drv / 1000, drv % 1000 / 10, rt / 1000, rt % 1000 / 10);
  if (err == cudaSuccess || err == cudaErrorNoDevice)
    return "the NVIDIA driver is installed but sees no GPU (check nvidia-smi and CUDA_VISIBLE_DEVICES), or use "
           "--device cpu";
  return fmt::format("{} ({}); check nvidia-smi, or use --device cpu", cudaGetErrorString(err),
                     cudaGetErrorName(err));
}

const Probe& probe() {
  static const Probe p = [] {
    Probe r;
    const cudaError_t err = cudaGetDeviceCount(&r.count);
    if (err != cudaSuccess) {
      r.count = 0;
      cudaGetLastError();
    }
    if (r.count == 0) r.why = no_gpu_reason(err);
    if (r.count > kMaxDevices) r.count = kMaxDevices;
    return r;
  }();
  return p;
}

std::atomic<bool> g_tf32{[] {
  const char* v = std::getenv("MOCO_CUDA_TF32");
  return v != nullptr && std::strcmp(v, "0") != 0 && v[0] != '\0';
}()};

thread_local int t_current_device = -1;
}  // namespace

CudaBackend::CudaBackend(int device) : device_(device), alloc_(device) {
  MOCO_CUDA_CHECK(cudaSetDevice(device));
  t_current_device = device;
  MOCO_CUDA_CHECK(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, device));
  MOCO_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  // The error slot lives in device memory (kernels update it with atomicCAS);
  // synchronize() copies it to pinned host memory with the same wait.
  MOCO_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&error_host_), sizeof(DeviceError)));
  std::memset(error_host_, 0, sizeof(DeviceError));
  MOCO_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&error_dev_), sizeof(DeviceError)));
  MOCO_CUDA_CHECK(cudaMemset(error_dev_, 0, sizeof(DeviceError)));
}

// Never runs: backends live until the process exits (see backend()).
CudaBackend::~CudaBackend() = default;

void CudaBackend::activate() const {
  if (t_current_device != device_) {
    MOCO_CUDA_CHECK(cudaSetDevice(device_));
    t_current_device = device_;
  }
}

cublasHandle_t CudaBackend::cublas() {
  std::lock_guard<std::mutex> lock(handle_mu_);
  if (!cublas_) {
    MOCO_CUBLAS_CHECK(cublasCreate(&cublas_));
    MOCO_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
  }
  return cublas_;
}

cudnnHandle_t CudaBackend::cudnn() {
  std::lock_guard<std::mutex> lock(handle_mu_);
  if (!cudnn_) {
    MOCO_CUDNN_CHECK(cudnnCreate(&cudnn_));
    MOCO_CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
  }
  return cudnn_;
}

int CudaBackend::blocks_for(int64_t n, int threads) const {
  const int64_t want = (n + threads - 1) / threads;
  const int64_t cap = int64_t(sm_count_) * 32;  // a grid-stride loop covers the rest
  return int(std::max<int64_t>(1, std::min(want, cap)));
}

void* CudaBackend::allocate(size_t nbytes) {
  activate();
  return alloc_.allocate(nbytes);
}

void CudaBackend::deallocate(void* p, size_t nbytes) { alloc_.deallocate(p, nbytes); }

void CudaBackend::to_host(void* host_dst, const void* src, size_t nbytes) {
  activate();
  if (nbytes > 0) MOCO_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, nbytes, cudaMemcpyDeviceToHost, stream_));
  synchronize();
}

void CudaBackend::from_host(void* dst, const void* host_src, size_t nbytes) {
  activate();
  if (nbytes == 0) return;
  // From pageable memory the call returns once the source has been staged,
  // so the caller may free host_src at once; the copy is ordered on the stream.
  MOCO_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, nbytes, cudaMemcpyHostToDevice, stream_));
}

void CudaBackend::synchronize() {
  activate();
  MOCO_CUDA_CHECK(cudaMemcpyAsync(error_host_, error_dev_, sizeof(DeviceError), cudaMemcpyDeviceToHost, stream_));
  MOCO_CUDA_CHECK(cudaStreamSynchronize(stream_));
  check_device_error();
}

void CudaBackend::check_device_error() {
  DeviceError e;
  std::memcpy(&e, error_host_, sizeof(e));
  if (e.code == kErrNone) return;
  std::memset(error_host_, 0, sizeof(DeviceError));
  MOCO_CUDA_CHECK(cudaMemset(error_dev_, 0, sizeof(DeviceError)));
  static const char* const names[] = {"?", "index_select", "index_add", "gather", "scatter_add"};
  const char* op = e.code > 0 && e.code <= kErrScatterAdd ? names[e.code] : "?";
  fail("{} (cuda:{}): index {} out of range for a dim of size {} (found by a GPU kernel, reported at the next "
       "synchronisation; the out-of-range entries were skipped)",
       op, device_, e.value, e.size);
}

CudaBackend& backend(int index) {
  const Probe& p = probe();
  if (p.count == 0) fail("device cuda:{}: no CUDA GPU is present: {}", index, p.why);
  MOCO_CHECK(index >= 0 && index < p.count, "device cuda:{}: only {} CUDA device(s) present (cuda:0..cuda:{})", index,
             p.count, p.count - 1);
  static std::array<std::atomic<CudaBackend*>, kMaxDevices> backends{};
  CudaBackend* be = backends[size_t(index)].load(std::memory_order_acquire);
  if (be) return *be;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  be = backends[size_t(index)].load(std::memory_order_acquire);
  if (!be) {
    be = new CudaBackend(index);  // lives until exit: tensors may be freed by static destructors
    backends[size_t(index)].store(be, std::memory_order_release);
  }
  return *be;
}

bool tf32_enabled() { return g_tf32.load(); }

// ---- the plugin's table (tensor/cuda/plugin.h) ----

namespace {

int api_device_count(std::string* why_none) {
  const Probe& p = probe();
  if (why_none) *why_none = p.why;
  return p.count;
}

Backend& api_backend(int device) { return backend(device); }

std::string api_device_name(int device) {
  backend(device);  // the error for a missing device
  cudaDeviceProp prop{};
  MOCO_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return fmt::format("{} (sm_{}{}, {})", prop.name, prop.major, prop.minor, format_bytes(prop.totalGlobalMem));
}

std::string api_library_versions() {
  int rt = 0, drv = 0;
  cudaRuntimeGetVersion(&rt);
  cudaDriverGetVersion(&drv);
  return fmt::format("CUDA runtime {} (driver {}), cuBLAS {}, cuDNN {}", rt, drv, CUBLAS_VERSION, cudnnGetVersion());
}

MemoryStats api_memory_stats(int device) { return backend(device).allocator().stats(); }
void api_reset_peak_memory(int device) { backend(device).allocator().reset_peak(); }
void api_empty_cache(int device) {
  CudaBackend& be = backend(device);
  be.synchronize();
  be.allocator().empty_cache();
}
void api_synchronize(int device) { backend(device).synchronize(); }
void api_set_allow_tf32(bool on) { g_tf32.store(on); }
bool api_allow_tf32() { return g_tf32.load(); }

ProcessGroup* api_nccl_group(ProcessGroup* host, int device, std::string* why) {
#ifdef MOCO_WITH_NCCL
  (void)why;
  return new_nccl_group(host, device);
#else
  (void)host, (void)device;
  *why = "this CUDA plugin was built without NCCL (CMake found no nccl.h): install NCCL's headers and rebuild, or "
         "use --dist-backend mpi";
  return nullptr;
#endif
}

}  // namespace

}  // namespace cuda

}  // namespace moco

extern "C" __attribute__((visibility("default"))) const moco::cuda::PluginApi* moco_cuda_plugin() {
  using namespace moco;
  using namespace moco::cuda;
  static const PluginApi api = {
      kPluginAbi,
      MOCO_PLUGIN_INTERFACE,
      sizeof(Tensor),
      sizeof(Backend),
      sizeof(Backend::ConvGeom),
      sizeof(MemoryStats),
      &api_device_count,
      &api_backend,
      &api_device_name,
      &api_library_versions,
      &api_memory_stats,
      &api_reset_peak_memory,
      &api_empty_cache,
      &api_synchronize,
      &api_set_allow_tf32,
      &api_allow_tf32,
      &gpu_philox_words,
      &api_nccl_group,
  };
  return &api;
}
