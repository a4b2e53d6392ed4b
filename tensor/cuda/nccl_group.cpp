// The NCCL process group: data-parallel collectives between GPUs, one process
// per GPU, as PyTorch's "nccl" backend does for the official MoCo scripts.
// MPI (the group it is built on) starts the processes and hands out NCCL's
// unique id; tensors on the GPU then travel through NCCL on the device's
// stream, in order with the kernels, while CPU tensors (scalars, the stop
// signal, configuration hashes) still go through MPI.
//
// libnccl is opened with dlopen on the first NCCL group, so the plugin loads
// (and trains on one GPU) where NCCL is not installed; only
// --dist-backend nccl then says that it is missing.
#include <dlfcn.h>
#include <nccl.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "tensor/cuda/check.h"
#include "tensor/cuda/cuda_backend.h"
#include "tensor/error.h"
#include "tensor/process_group.h"

namespace moco::cuda {

namespace {

struct NcclLib {
  ncclResult_t (*get_unique_id)(ncclUniqueId*) = nullptr;
  ncclResult_t (*comm_init_rank)(ncclComm_t*, int, ncclUniqueId, int) = nullptr;
  ncclResult_t (*comm_destroy)(ncclComm_t) = nullptr;
  ncclResult_t (*comm_abort)(ncclComm_t) = nullptr;
  ncclResult_t (*all_reduce)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t,
                             cudaStream_t) = nullptr;
  ncclResult_t (*broadcast)(const void*, void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*all_gather)(const void*, void*, size_t, ncclDataType_t, ncclComm_t, cudaStream_t) = nullptr;
  const char* (*error_string)(ncclResult_t) = nullptr;
  std::string error;  // why NCCL cannot be used ("" when it can)
};

template <class F>
bool find(void* h, const char* name, F& f) {
  f = reinterpret_cast<F>(dlsym(h, name));
  return f != nullptr;
}

NcclLib open_nccl() {
  NcclLib l;
  void* h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char* e = dlerror();
    l.error = fmt::format("NCCL cannot be loaded ({}): install NCCL 2 (libnccl.so.2; PyTorch's wheels bring one in "
                          "nvidia/nccl/lib) and add its directory to LD_LIBRARY_PATH, or use --dist-backend mpi",
                          printable(e ? e : "unknown error"));
    return l;
  }
  if (!(find(h, "ncclGetUniqueId", l.get_unique_id) && find(h, "ncclCommInitRank", l.comm_init_rank) &&
        find(h, "ncclCommDestroy", l.comm_destroy) && find(h, "ncclCommAbort", l.comm_abort) &&
        find(h, "ncclAllReduce", l.all_reduce) && find(h, "ncclBroadcast", l.broadcast) &&
        find(h, "ncclAllGather", l.all_gather) && find(h, "ncclGetErrorString", l.error_string)))
    l.error = "libnccl.so.2 lacks a function of NCCL 2.x (too old?): install NCCL 2.12 or newer, or use "
              "--dist-backend mpi";
  return l;
}

const NcclLib& nccl() {
  static const NcclLib l = open_nccl();
  return l;
}

void check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) fail("NCCL {}: {}", what, nccl().error_string(r));
}

ncclDataType_t nccl_type(DType d) {
  switch (d) {
    case DType::f32: return ncclFloat32;
    case DType::f64: return ncclFloat64;
    case DType::i64: return ncclInt64;
    default: fail("NCCL: no NCCL type for dtype {}", dtype_name(d));
  }
}

class NcclGroup final : public ProcessGroup {
 public:
  // Takes `host` over once NCCL is up; a constructor that throws leaves it with the caller.
  NcclGroup(ProcessGroup* host, int device) : be_(cuda::backend(device)), gpu_(Device::cuda(device)) {
    MOCO_CHECK(nccl().error.empty(), "{}", nccl().error);
    ncclUniqueId id{};
    if (host->rank() == 0) check(nccl().get_unique_id(&id), "ncclGetUniqueId");
    // The id travels as int64 words through the host group.
    static_assert(sizeof(ncclUniqueId) % sizeof(int64_t) == 0, "NCCL's unique id is a whole number of words");
    Tensor words = Tensor::zeros({int64_t(sizeof(ncclUniqueId) / sizeof(int64_t))}, DType::i64);
    std::memcpy(words.raw_data(), &id, sizeof(id));
    host->broadcast(words, 0);
    std::memcpy(&id, words.raw_data(), sizeof(id));
    MOCO_CUDA_CHECK(cudaSetDevice(device));
    check(nccl().comm_init_rank(&comm_, host->size(), id, host->rank()), "ncclCommInitRank");
    host_.reset(host);
  }
  ~NcclGroup() override {
    if (comm_ != nullptr) nccl().comm_destroy(comm_);
  }
  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  std::string backend() const override { return "nccl"; }
  bool takes(const Device& d) const override { return d.is_cpu() || d == gpu_; }
  void set_timeout(double seconds) override { host_->set_timeout(seconds); }
  void all_reduce_sum(Tensor& t) override {
    if (t.device().is_cpu()) return host_->all_reduce_sum(t);
    on_my_gpu(t, "all_reduce");
    check(nccl().all_reduce(t.raw_data(), t.raw_data(), size_t(t.numel()), nccl_type(t.dtype()), ncclSum, comm_,
                            be_.stream()),
          "all_reduce");
  }
  void all_reduce_sum(std::vector<double>& v) override { host_->all_reduce_sum(v); }
  void broadcast(Tensor& t, int root) override {
    if (t.device().is_cpu()) return host_->broadcast(t, root);
    on_my_gpu(t, "broadcast");
    check(nccl().broadcast(t.raw_data(), t.raw_data(), size_t(t.numel()), nccl_type(t.dtype()), root, comm_,
                           be_.stream()),
          "broadcast");
  }
  std::vector<uint64_t> all_gather(uint64_t x) override { return host_->all_gather(x); }
  Tensor all_gather(const Tensor& t) override {
    if (t.device().is_cpu()) return host_->all_gather(t);
    Tensor c = t.contiguous();
    on_my_gpu(c, "all_gather");
    std::vector<int64_t> shape = c.shape();
    MOCO_CHECK(!shape.empty(), "NCCL all_gather: needs a tensor of at least one dimension");
    shape[0] *= size();
    Tensor out = Tensor::empty(shape, c.dtype(), c.device());
    check(nccl().all_gather(c.raw_data(), out.raw_data(), size_t(c.numel()), nccl_type(c.dtype()), comm_,
                            be_.stream()),
          "all_gather");
    return out;
  }
  [[noreturn]] void abort(int code) override {
    if (comm_ != nullptr) nccl().comm_abort(comm_);
    comm_ = nullptr;
    host_->abort(code);
    std::exit(code);  // not reached: the host's abort ends the process
  }

 private:
  void on_my_gpu(const Tensor& t, const char* op) const {
    MOCO_CHECK(t.is_contiguous() && t.device() == gpu_, "NCCL {}: needs a contiguous tensor on this rank's GPU {}, got one on {}",
               op, gpu_.str(), t.device().str());
  }
  std::unique_ptr<ProcessGroup> host_;
  CudaBackend& be_;
  Device gpu_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

ProcessGroup* new_nccl_group(ProcessGroup* host, int device) { return new NcclGroup(host, device); }

}  // namespace moco::cuda
