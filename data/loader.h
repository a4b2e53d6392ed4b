// The threaded data loader: worker threads make whole batches (decode,
// transform, collate into NCHW float tensors) ahead of the consumer, at most
// `prefetch` batches per worker ahead; batches come out in order.
//
// Reproducibility: the epoch's order comes from (seed, epoch), and every
// random choice made for a sample from (seed, epoch, dataset index), so the
// batches are bit-identical for any number of workers.
//
// Shutdown: the destructor (or start_epoch) stops the workers between two
// samples and joins them, also in the middle of an epoch.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <atomic>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"
#include "tensor/tensor.h"

namespace moco::data {

struct LoaderOptions {
  int64_t batch_size = 256;
  bool shuffle = true;
  bool drop_last = true;
  int num_workers = 2;  // 0: batches are made in the calling thread
  int prefetch = 2;     // batches in flight or waiting, per worker
  uint64_t seed = 0;
  // Data-parallel training (train/dist.h): this process is rank `rank` of
  // `world` and takes items rank, rank+world, ... of each epoch's order, as
  // PyTorch's DistributedSampler does; batch_size is then the per-process
  // batch. With drop_last every rank gets floor(n / world) items (the tail
  // that cannot fill a global batch is left out, as one process leaves it);
  // without, the ranks share out every item once (evaluation).
  int rank = 0, world = 1;
};

struct Batch {
  std::vector<Tensor> views;     // one per pipeline view, each N x C x H x W float32
  Tensor labels;                 // N int64 (-1 for unlabeled samples)
  std::vector<int64_t> indices;  // the samples' data-set indices
  int64_t epoch = 0, index = 0;  // index: batch number within the epoch
};

// Stacks same-sized float CHW images into an N x C x H x W tensor.
Tensor collate(const std::vector<FImage>& images);

class DataLoader {
 public:
  DataLoader(DatasetPtr dataset, Pipeline pipeline, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  int64_t batches_per_epoch() const;
  int64_t shard_size() const;  // the items of an epoch this process takes (all of them in one process)
  // Begins `epoch` (abandoning whatever is left of the current one) at batch
  // `first_batch` (> 0 when resuming a run mid-epoch: the batches are those
  // the uninterrupted epoch would have given).
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  int64_t epoch() const { return epoch_; }
  // The next batch of the current epoch; false when the epoch is over.
  // A worker's error (say, a corrupt image) is rethrown here.
  bool next(Batch& out);
  // The sample order of an epoch (data-set indices).
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  // One sample's views as the loader makes them (for tests and tools).
  std::vector<FImage> sample_views(int64_t index, int64_t epoch) const;
  const Dataset& dataset() const { return *ds_; }
  const Pipeline& pipeline() const { return pipe_; }
  const LoaderOptions& options() const { return opt_; }

 private:
  struct Result {
    Batch batch;
    std::exception_ptr error;
  };
  void worker_loop();
  void stop_workers();
  // Builds batch b of the current epoch; returns false if abandoned.
  bool make_batch(int64_t b, int64_t epoch, uint64_t gen, const std::vector<int64_t>& idx, Batch& out) const;

  DatasetPtr ds_;
  Pipeline pipe_;
  LoaderOptions opt_;

  std::vector<std::thread> workers_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> generation_{0};  // bumped by start_epoch: stale work is dropped
  bool active_ = false;
  int64_t epoch_ = 0, nbatches_ = 0, next_task_ = 0, consumed_ = 0;
  std::vector<int64_t> order_;
  std::map<int64_t, Result> ready_;
};

}  // namespace moco::data
