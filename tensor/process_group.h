// The processes of a data-parallel job, and the collectives the training
// code needs from them. The interface lives in the core so that every layer
// (MoCo's cross-process shuffle in contrastive/, the loops in train/) can take
// a group; the OpenMPI implementation is train/dist.cpp, which installs
// itself as world() when mpirun started the process. Without it world() is a
// group of one, whose collectives are the identity.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace moco {

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;  // "none" (one process), "mpi" or "nccl"
  // Whether the collectives take tensors on `d` as they are (MPI: the CPU;
  // NCCL: the CPU and this rank's GPU); others are copied to the CPU first.
  virtual bool takes(const Device& d) const { return d.is_cpu(); }
  // Element-wise sum over the ranks, in place (a contiguous CPU float32 / float64 / int64 tensor).
  virtual void all_reduce_sum(Tensor& t) = 0;
  virtual void all_reduce_sum(std::vector<double>& v) = 0;
  // Starts all_reduce_sum(t) and returns the wait for it, so the caller can
  // compute while the ranks exchange; `t` stays untouched until the wait has
  // returned, and every rank starts its collectives in the same order. A
  // group without asynchronous collectives finishes before returning.
  virtual std::function<void()> all_reduce_sum_start(Tensor& t) {
    all_reduce_sum(t);
    return [] {};
  }
  // Lets started collectives advance (MPI moves them on only inside its calls).
  virtual void progress() {}
  // Rank `root`'s values into `t` on every rank.
  virtual void broadcast(Tensor& t, int root) = 0;
  // Every rank's `x`, in rank order.
  virtual std::vector<uint64_t> all_gather(uint64_t x) = 0;
  // Every rank's `t` (the same shape on each) concatenated along dim 0, in rank order.
  virtual Tensor all_gather(const Tensor& t) = 0;
  // How long one collective may wait for the other ranks before this rank
  // ends the job with a message naming it (a rank that hangs without failing
  // would otherwise hang them all). One process: nothing waits.
  virtual void set_timeout(double seconds) { (void)seconds; }
  // Ends every rank of the job with `code` (after this rank's message is out).
  [[noreturn]] virtual void abort(int code) = 0;
  bool is_writer() const { return rank() == 0; }  // the rank that writes logs, metrics and checkpoints
};

// g.all_gather of a tensor on any device: as it is where the group takes
// that device (NCCL: this rank's GPU), else through a contiguous host copy;
// the result on t's device.
Tensor all_gather_any_device(ProcessGroup& g, const Tensor& t);

// The process's group (one process unless train/dist.h's init_distributed installed MPI's).
ProcessGroup& world();
// Installs `g` as world() (init_distributed does; tests may too).
void set_world(std::unique_ptr<ProcessGroup> g);
// Hands world() over (to wrap it in another group), leaving a group of one in its place.
std::unique_ptr<ProcessGroup> release_world();
// A group of one process.
std::unique_ptr<ProcessGroup> single_process_group();

}  // namespace moco
