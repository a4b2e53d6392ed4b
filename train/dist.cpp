#include "train/dist.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "tensor/error.h"
#ifdef MOCO_WITH_CUDA
#include "tensor/cuda/cuda_api.h"
#endif
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

// Watches the collectives of one process: when one has waited longer than
// the timeout for the other ranks, it ends this process with a message, and
// mpirun then ends the job. A thread of its own, because the waiting thread
// is inside MPI; it ends the process with _Exit rather than MPI_Abort, which
// MPI_THREAD_FUNNELED does not allow from a second thread.
class CollectiveWatchdog {
 public:
  explicit CollectiveWatchdog(int rank) : rank_(rank), thread_([this] { watch(); }) {}
  ~CollectiveWatchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  void set_timeout(double seconds) { timeout_ms_ = int64_t(seconds * 1000.0); }
  // Marks the collective `op` as started / finished (an RAII guard).
  struct Waiting {
    CollectiveWatchdog& w;
    Waiting(CollectiveWatchdog& dog, const char* op) : w(dog) {
      w.op_ = op;
      w.since_ms_ = now_ms();
    }
    ~Waiting() { w.since_ms_ = 0; }
  };

 private:
  static int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void watch() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stop_; })) {
      const int64_t since = since_ms_, limit = timeout_ms_;
      if (since == 0 || limit <= 0 || now_ms() - since <= limit) continue;
      std::fprintf(stderr,
                   "error: rank %d waited %.0f s in the collective %s for the other ranks (--dist-timeout %.0f s): "
                   "a rank has hung or stopped without failing. Ending the job; rerun with a larger --dist-timeout "
                   "if a step or an evaluation legitimately takes longer\n",
                   rank_, double(now_ms() - since) / 1000.0, op_.load(), double(limit) / 1000.0);
      std::fflush(stderr);
      std::_Exit(3);
    }
  }
  const int rank_;
  std::atomic<int64_t> since_ms_{0};
  std::atomic<int64_t> timeout_ms_{1800 * 1000};  // PyTorch's default for its process groups: 30 minutes
  std::atomic<const char*> op_{""};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

class Mpi final : public ProcessGroup {
 public:
  Mpi() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    dog_ = std::make_unique<CollectiveWatchdog>(rank_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }
  void set_timeout(double seconds) override { dog_->set_timeout(seconds); }
  void all_reduce_sum(Tensor& t) override {
    check_cpu_contiguous(t, "all_reduce");
    CollectiveWatchdog::Waiting w(*dog_, "all_reduce");
    MPI_Allreduce(MPI_IN_PLACE, t.raw_data(), int(t.numel()), mpi_type(t.dtype()), MPI_SUM, MPI_COMM_WORLD);
  }
  std::function<void()> all_reduce_sum_start(Tensor& t) override {
    check_cpu_contiguous(t, "all_reduce");
    auto req = std::make_shared<MPI_Request>(MPI_REQUEST_NULL);
    MPI_Iallreduce(MPI_IN_PLACE, t.raw_data(), int(t.numel()), mpi_type(t.dtype()), MPI_SUM, MPI_COMM_WORLD,
                   req.get());
    inflight_.push_back(req);
    return [this, req] {
      CollectiveWatchdog::Waiting w(*dog_, "all_reduce");
      MPI_Wait(req.get(), MPI_STATUS_IGNORE);
      inflight_.erase(std::remove(inflight_.begin(), inflight_.end(), req), inflight_.end());
    };
  }
  void progress() override {
    int done = 0;
    for (auto& r : inflight_) MPI_Test(r.get(), &done, MPI_STATUS_IGNORE);
  }
  void all_reduce_sum(std::vector<double>& v) override {
    CollectiveWatchdog::Waiting w(*dog_, "all_reduce");
    MPI_Allreduce(MPI_IN_PLACE, v.data(), int(v.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  }
  void broadcast(Tensor& t, int root) override {
    check_cpu_contiguous(t, "broadcast");
    CollectiveWatchdog::Waiting w(*dog_, "broadcast");
    MPI_Bcast(t.raw_data(), int(t.numel()), mpi_type(t.dtype()), root, MPI_COMM_WORLD);
  }
  std::vector<uint64_t> all_gather(uint64_t x) override {
    std::vector<uint64_t> out(size_t(size_), 0);
    CollectiveWatchdog::Waiting w(*dog_, "all_gather");
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
    CollectiveWatchdog::Waiting w(*dog_, "all_gather");
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
  std::unique_ptr<CollectiveWatchdog> dog_;
  std::vector<std::shared_ptr<MPI_Request>> inflight_;  // started, not yet waited for
};
#endif

uint64_t hash_bytes(const void* data, size_t n) {  // FNV-1a
  uint64_t h = 1469598103934665603ull;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

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

int local_rank() {
  const char* r = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  return r ? std::atoi(r) : 0;
}

Device rank_device(const Device& d, bool index_given) {
  if (!d.is_cuda() || index_given || world().size() == 1) return d;
  return Device::cuda(local_rank());
}

void use_nccl(const Device& gpu) {
#ifdef MOCO_WITH_CUDA
  MOCO_USAGE_CHECK(gpu.is_cuda(), "--dist-backend nccl connects GPUs: add --device cuda (one GPU per process)");
  MOCO_USAGE_CHECK(world().backend() == "mpi",
                   "--dist-backend nccl: start the command with mpirun -np N moco ... (one process per GPU): MPI "
                   "starts the processes, NCCL connects their GPUs{}",
                   mpi_compiled() ? "" : "; this moco was built without MPI (install libopenmpi-dev and rebuild)");
  std::unique_ptr<ProcessGroup> mpi = release_world();
  try {
    set_world(cuda::nccl_process_group(mpi, gpu.index));
  } catch (...) {
    set_world(std::move(mpi));  // the job still ends through MPI, with the message
    throw;
  }
#else
  (void)gpu;
  usage_fail("--dist-backend nccl needs a CUDA build with NCCL, which this moco is not: use --dist-backend mpi "
             "(CPU processes)");
#endif
}

void finalize_distributed() {
#ifdef MOCO_WITH_MPI
  if (world().backend() == "mpi" || world().backend() == "nccl") {
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
    Tensor flat = flatten(of);
    if (!g.takes(flat.device())) flat = flat.to(Device::cpu());
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
  Tensor flat = flatten(grads);
  if (!g.takes(flat.device())) flat = flat.to(Device::cpu());
  g.all_reduce_sum(flat);
  flat.mul_(1.0 / double(g.size()));
  unflatten_into(flat, grads);
}

GradientReducer::GradientReducer(ProcessGroup& g, std::vector<Tensor> params, int64_t bucket_bytes)
    : g_(g), params_(std::move(params)), bucket_bytes_(bucket_bytes) {
  for (size_t i = 0; i < params_.size(); ++i) index_[params_[i].impl_ptr().get()] = i;
  // The last layers' gradients are ready first: until a pass has shown the
  // order, buckets follow the parameters backwards.
  std::vector<size_t> order;
  for (size_t i = params_.size(); i-- > 0;) order.push_back(i);
  fill_buckets(order, {});
}

void GradientReducer::fill_buckets(const std::vector<size_t>& order, const std::vector<size_t>& unused) {
  buckets_.clear();
  bucket_of_.assign(params_.size(), 0);
  int64_t bytes = bucket_bytes_;
  std::vector<size_t> all = order;
  all.insert(all.end(), unused.begin(), unused.end());
  for (size_t k = 0; k < all.size(); ++k) {
    const size_t i = all[k];
    if (!params_[i].requires_grad()) continue;
    const int64_t b = params_[i].numel() * int64_t(dtype_size(params_[i].dtype()));
    if (buckets_.empty() || bytes + b > bucket_bytes_ || k == order.size()) {  // the unused in buckets of their own
      buckets_.emplace_back();
      bytes = 0;
    }
    buckets_.back().members.push_back(i);
    bytes += b;
    bucket_of_[i] = buckets_.size() - 1;
  }
}

void GradientReducer::start(Bucket& b) {
  for (size_t i : b.members)
    if (params_[i].grad().defined()) b.grads.push_back(params_[i].grad());
  if (b.grads.empty()) return;
  b.flat = flatten(b.grads);
  if (!g_.takes(b.flat.device())) b.flat = b.flat.to(Device::cpu());
  b.wait = g_.all_reduce_sum_start(b.flat);
}

void GradientReducer::backward(const Tensor& loss) {
  if (g_.size() == 1) return loss.backward();
  for (Bucket& b : buckets_) b = Bucket{b.members, 0, {}, {}, {}};
  size_t next = 0;  // buckets start in order, the same on every rank
  std::vector<size_t> ready_order;
  run_backward(loss, {}, [&](const Tensor& leaf) {
    const auto it = index_.find(leaf.impl_ptr().get());
    if (it == index_.end() || !params_[it->second].requires_grad()) return;
    if (!rebuilt_) ready_order.push_back(it->second);
    ++buckets_[bucket_of_[it->second]].ready;
    while (next < buckets_.size() && buckets_[next].ready == buckets_[next].members.size()) start(buckets_[next++]);
    g_.progress();
  });
  started_during_pass_ = next;
  NoGradGuard no_grad;
  // Buckets with a parameter the pass did not reach go now, with the gradients there are.
  for (; next < buckets_.size(); ++next) start(buckets_[next]);
  for (Bucket& b : buckets_) {
    if (!b.flat.defined()) continue;
    b.wait();
    b.flat.mul_(1.0 / double(g_.size()));
    unflatten_into(b.flat, b.grads);
    b.flat = Tensor();
    b.grads.clear();
  }
  if (!rebuilt_) {
    // As DDP does after its first pass: buckets in the order the gradients
    // came (the same on every rank: the same graph), parameters the pass did
    // not reach last, so that they hold up no bucket.
    rebuilt_ = true;
    std::vector<bool> seen(params_.size(), false);
    for (size_t i : ready_order) seen[i] = true;
    std::vector<size_t> unused;
    for (size_t i = params_.size(); i-- > 0;)
      if (!seen[i]) unused.push_back(i);
    fill_buckets(ready_order, unused);
  }
}

int agreed_stop(ProcessGroup& g) {
  const int mine = StopSignals::requested();
  if (g.size() == 1) return mine;
  int sig = 0;
  for (uint64_t s : g.all_gather(uint64_t(mine))) sig = std::max(sig, int(s));
  return sig;
}

void check_parameters_in_sync(ProcessGroup& g, const nn::Module& m, const std::string& when) {
  if (g.size() == 1) return;
  NoGradGuard no_grad;
  const nn::NamedTensors params = m.named_parameters();
  Tensor mine = Tensor::empty({int64_t(params.size())}, DType::i64);
  int64_t* h = mine.data<int64_t>();
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor t = params[i].second.contiguous().to(Device::cpu());
    h[i] = int64_t(hash_bytes(t.raw_data(), size_t(t.numel()) * dtype_size(t.dtype())));
  }
  const Tensor all = g.all_gather(mine);
  const int64_t* a = all.data<int64_t>();
  const size_t n = params.size();
  for (int r = 1; r < g.size(); ++r)
    for (size_t i = 0; i < n; ++i)
      if (a[size_t(r) * n + i] != a[i])
        fail("the ranks' weights differ {}: rank {} holds another {} than rank 0 (data-parallel ranks must stay "
             "identical; a rank with other data, another build or another arithmetic library drifts apart). "
             "Start every rank from the same binary on the same data",
             when, r, params[i].first);
}

uint64_t hash_text(const std::string& text) { return hash_bytes(text.data(), text.size()); }

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
