#include "train/dist.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "tensor/error.h"
#include "train/stop_signal.h"

#ifdef MOCO_WITH_MPI
// The C API only: OpenMPI's deprecated C++ bindings would need their own library.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace moco::train {

namespace {

#ifdef MOCO_WITH_MPI
MPI_Datatype mpi_type(DType d) {
  switch (d) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::i64: return MPI_INT64_T;
    default: fail("distributed: no MPI type for dtype {}", dtype_name(d));
  }
}

void check_cpu_contiguous(const Tensor& t, const char* op) {
  MOCO_CHECK(t.device().is_cpu() && t.is_contiguous(), "distributed {}: needs a contiguous CPU tensor", op);
}

class Mpi final : public ProcessGroup {
 public:
  Mpi() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }
  void all_reduce_sum(Tensor& t) override {
    check_cpu_contiguous(t, "all_reduce");
    MPI_Allreduce(MPI_IN_PLACE, t.raw_data(), int(t.numel()), mpi_type(t.dtype()), MPI_SUM, MPI_COMM_WORLD);
  }
  void all_reduce_sum(std::vector<double>& v) override {
    MPI_Allreduce(MPI_IN_PLACE, v.data(), int(v.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  }
  void broadcast(Tensor& t, int root) override {
    check_cpu_contiguous(t, "broadcast");
    MPI_Bcast(t.raw_data(), int(t.numel()), mpi_type(t.dtype()), root, MPI_COMM_WORLD);
  }
  std::vector<uint64_t> all_gather(uint64_t x) override {
    std::vector<uint64_t> out(size_t(size_), 0);
    MPI_Allgather(&x, 1, MPI_UINT64_T, out.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD);
    return out;
  }
  Tensor all_gather(const Tensor& t) override {
    Tensor c = t.contiguous();
    check_cpu_contiguous(c, "all_gather");
    std::vector<int64_t> shape = c.shape();
    MOCO_CHECK(!shape.empty(), "distributed all_gather: needs a tensor of at least one dimension");
    shape[0] *= size_;
    Tensor out = Tensor::empty(shape, c.dtype());
    MPI_Allgather(c.raw_data(), int(c.numel()), mpi_type(c.dtype()), out.raw_data(), int(c.numel()),
                  mpi_type(c.dtype()), MPI_COMM_WORLD);
    return out;
  }
  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
  }

 private:
  int rank_ = 0, size_ = 1;
};
#endif

bool launched_by_mpirun() { return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE"); }

}  // namespace

bool mpi_compiled() {
#ifdef MOCO_WITH_MPI
  return true;
#else
  return false;
#endif
}

void init_distributed(int* argc, char*** argv) {
  if (!launched_by_mpirun()) return;
#ifdef MOCO_WITH_MPI
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  set_world(std::make_unique<Mpi>());
#else
  (void)argc, (void)argv;
  const char* n = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (n && std::atoi(n) > 1)
    fail("this moco was built without MPI, so {} processes started by mpirun would each train alone: install "
         "libopenmpi-dev and rebuild (CMake finds MPI), or run one process",
         n);
#endif
}

void finalize_distributed() {
#ifdef MOCO_WITH_MPI
  if (world().backend() == "mpi") {
    set_world(single_process_group());
    MPI_Finalize();
  }
#endif
}

namespace {

// The tensors as one flat CPU buffer of their dtype (float32), and back.
Tensor flatten(const std::vector<Tensor>& ts) {
  std::vector<Tensor> flat;
  for (const Tensor& t : ts) flat.push_back(t.contiguous().reshape({t.numel()}));
  return cat(flat, 0).contiguous();
}

void unflatten_into(const Tensor& flat, const std::vector<Tensor>& ts) {
  int64_t off = 0;
  for (const Tensor& t : ts) {
    Tensor dst = t;
    dst.copy_(flat.slice(0, off, off + t.numel()).reshape(t.shape()));
    off += t.numel();
  }
}

void broadcast_all(ProcessGroup& g, const std::vector<Tensor>& ts) {
  if (g.size() == 1 || ts.empty()) return;
  NoGradGuard no_grad;
  // One message per dtype.
  for (DType d : {DType::f32, DType::f64, DType::i64}) {
    std::vector<Tensor> of;
    for (const Tensor& t : ts)
      if (t.dtype() == d) of.push_back(t);
    if (of.empty()) continue;
    Tensor flat = flatten(of).to(Device::cpu());
    g.broadcast(flat, 0);
    unflatten_into(flat, of);
  }
}

}  // namespace

data::LoaderOptions shard_loader_options(const ProcessGroup& g, int64_t global_batch, int workers, uint64_t seed) {
  data::LoaderOptions lo;
  lo.batch_size = global_batch / g.size();
  lo.num_workers = workers;
  lo.seed = seed;
  lo.rank = g.rank();
  lo.world = g.size();
  return lo;
}

void broadcast_module(ProcessGroup& g, nn::Module& m) {
  std::vector<Tensor> all;
  for (auto& [n, t] : m.state_dict()) all.push_back(t);
  broadcast_all(g, all);
}

void broadcast_buffers(ProcessGroup& g, nn::Module& m) {
  std::vector<Tensor> bufs;
  for (auto& [n, t] : m.named_buffers()) bufs.push_back(t);
  broadcast_all(g, bufs);
}

void average_gradients(ProcessGroup& g, const std::vector<Tensor>& params) {
  if (g.size() == 1) return;
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const Tensor& p : params)
    if (p.requires_grad() && p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return;
  Tensor flat = flatten(grads).to(Device::cpu());
  g.all_reduce_sum(flat);
  flat.mul_(1.0 / double(g.size()));
  unflatten_into(flat, grads);
}

int agreed_stop(ProcessGroup& g) {
  const int mine = StopSignals::requested();
  if (g.size() == 1) return mine;
  int sig = 0;
  for (uint64_t s : g.all_gather(uint64_t(mine))) sig = std::max(sig, int(s));
  return sig;
}

uint64_t hash_text(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

void check_same_on_all_ranks(ProcessGroup& g, const std::string& text, const std::string& what) {
  if (g.size() == 1) return;
  const std::vector<uint64_t> h = g.all_gather(hash_text(text));
  for (size_t r = 1; r < h.size(); ++r)
    MOCO_USAGE_CHECK(h[r] == h[0],
                     "the {} processes were started with different {}: rank {} differs from rank 0. Start every "
                     "rank with the same command line",
                     g.size(), what, r);
}

}  // namespace moco::train
