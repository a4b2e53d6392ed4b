// Data-parallel training across processes, the way PyTorch's
// DistributedDataParallel does it for the official MoCo scripts: every
// process (rank) holds the whole model, takes its slice of each global batch
// (rank r: items r, r+N, r+2N, ... of the epoch's seeded order, as
// DistributedSampler gives them), and the gradients are averaged over the
// ranks before each optimiser step, so the ranks stay identical. Buffers
// (BatchNorm running statistics) are rank 0's before each forward
// (broadcast_buffers=True). The transport is OpenMPI (`mpirun -np N moco
// ...`); without MPI, or outside mpirun, the group has one process and every
// collective is the identity.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/loader.h"
#include "nn/module.h"
#include "tensor/process_group.h"
#include "tensor/tensor.h"

namespace moco::train {

using moco::ProcessGroup;
using moco::world;

// world() (tensor/process_group.h) is OpenMPI's world once init_distributed
// has run in a process that mpirun started (and MPI is compiled in).
// Starts MPI when the process runs under mpirun (OMPI_COMM_WORLD_SIZE is set)
// and moco was built with MPI; a clear error when it was not. Call once, first thing in main.
void init_distributed(int* argc, char*** argv);
// This process's index among the ranks on its machine (mpirun's local rank; 0 outside mpirun).
int local_rank();
// The GPU of this rank for --device `d`: "cuda" without an index means one
// GPU per process (cuda:<local rank>) when mpirun started several; else `d`.
Device rank_device(const Device& d, bool index_given);
// --dist-backend nccl: world() becomes an NCCL group between the ranks' GPUs
// (this rank on `gpu`), MPI still starting the processes and carrying CPU
// values. A usage error without CUDA, without mpirun, or for a CPU device.
void use_nccl(const Device& gpu);
void finalize_distributed();
bool mpi_compiled();

// The training loader's options for this rank of `g`: its slice of the
// global batch (which `g.size()` must divide) and its DistributedSampler shard.
data::LoaderOptions shard_loader_options(const ProcessGroup& g, int64_t global_batch, int workers, uint64_t seed);

// DDP's pieces, on a group of any size (one process: no-ops).
// Copies rank 0's parameters and buffers to every rank (at the start of training).
void broadcast_module(ProcessGroup& g, nn::Module& m);
// Copies rank 0's buffers (BatchNorm running statistics, counters) to every rank.
void broadcast_buffers(ProcessGroup& g, nn::Module& m);
// Replaces each parameter's gradient by its mean over the ranks: one
// all-reduce over a flat buffer of all gradients (one bucket), after the backward pass.
void average_gradients(ProcessGroup& g, const std::vector<Tensor>& params);

// DDP's reducer: the backward pass with the gradients' all-reduce overlapped.
// The trainable parameters are grouped in buckets of about `bucket_bytes`
// (DDP's 25 MiB), last layers first (after the first pass: in the order the
// gradients came, parameters without one last); a bucket's all-reduce starts
// as soon as the pass has completed its gradients, while the pass goes on
// through the earlier layers. The gradients are those of average_gradients,
// bit for bit.
class GradientReducer {
 public:
  GradientReducer(ProcessGroup& g, std::vector<Tensor> params, int64_t bucket_bytes = 25 << 20);
  // loss.backward(); when it returns, every gradient is its mean over the ranks (one process: just the backward).
  void backward(const Tensor& loss);
  size_t buckets() const { return buckets_.size(); }
  // Of the last backward(): the buckets whose all-reduce started before the pass had ended.
  size_t started_during_pass() const { return started_during_pass_; }

 private:
  struct Bucket {
    std::vector<size_t> members;  // indices into params_
    size_t ready = 0;             // members whose gradient the pass has completed
    std::vector<Tensor> grads;    // the members' gradients (those the pass gave), in flat's order
    Tensor flat;                  // the bucket's gradients, being summed over the ranks
    std::function<void()> wait;
  };
  // Buckets of the parameters (indices) in the order their gradients come, then the `unused` apart.
  void fill_buckets(const std::vector<size_t>& order, const std::vector<size_t>& unused);
  void start(Bucket& b);
  ProcessGroup& g_;
  std::vector<Tensor> params_;
  int64_t bucket_bytes_;
  bool rebuilt_ = false;  // buckets follow the order the first pass gave
  std::vector<Bucket> buckets_;
  std::unordered_map<const void*, size_t> index_;  // a parameter's TensorImpl -> its index in params_
  std::vector<size_t> bucket_of_;                   // a parameter's bucket (trainable ones)
  size_t started_during_pass_ = 0;
};
// The stop signal (SIGINT / SIGTERM, 0: none) any rank has received, the
// same on every rank, so that all of them stop after the same step.
int agreed_stop(ProcessGroup& g);
// Throws on every rank unless every rank holds rank 0's parameters bit for
// bit (DDP keeps them so by construction; a rank whose data, build or
// arithmetic differs would otherwise drift away silently). `when` names the
// moment in the message ("at the start", "after step 400").
void check_parameters_in_sync(ProcessGroup& g, const nn::Module& m, const std::string& when);
// A 64-bit hash of `text` (FNV-1a): the ranks compare their configurations by it.
uint64_t hash_text(const std::string& text);
// Throws a UsageError on every rank (rank 0's message names the first rank
// that differs) unless every rank passed the same `text`.
void check_same_on_all_ranks(ProcessGroup& g, const std::string& text, const std::string& what);

}  // namespace moco::train
