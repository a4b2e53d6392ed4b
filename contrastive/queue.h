// The MoCo v1/v2 dictionary: a ring of K L2-normalised keys, [K, dim] (row i
// is key i). Initialised with random normalised vectors; after each loss the
// batch's keys replace the oldest ones at a pointer that wraps around, so K
// must be a multiple of the number of keys enqueued per step (the batch, or
// twice it with the symmetric loss). See moco/builder.py: _dequeue_and_enqueue.
//
// Checkpoints use the official buffers' names and layout, so a saved queue
// loads into PyTorch's MoCo module unchanged: "queue" [dim, K] (one key per
// column, as builder.py stores it) and "queue_ptr" [1] int64.
//
// Each slot also remembers how many enqueues ago it was written (its age, in
// training steps: one enqueue per step), so the training log can show how
// stale the negatives are. The keys just enqueued have age 0, the random
// starting keys age = the enqueues so far; in a full queue refreshed B keys
// at a time the mean age is (K/B − 1)/2. The ages are checkpointed apart
// from builder.py's buffers (age_state_dict), as "queue_age" [K] int64.
#pragma once
#include <cstdint>
#include <vector>

#include "nn/module.h"
#include "tensor/random.h"

namespace moco::contrastive {

class Queue {
 public:
  Queue() = default;
  // K keys of `dim` values, each a normal random vector normalised to unit length.
  Queue(int64_t K, int64_t dim, Generator& gen, Device device = {});

  int64_t size() const { return keys_.defined() ? keys_.size(0) : 0; }  // K
  int64_t dim() const { return keys_.defined() ? keys_.size(1) : 0; }
  int64_t ptr() const { return ptr_; }  // row the next enqueue writes first
  const Tensor& keys() const { return keys_; }  // [K, dim]; enqueue() overwrites rows in place
  Device device() const { return keys_.device(); }

  // Throws unless `keys_per_step` keys can be enqueued every step (K % keys_per_step == 0).
  void check_keys_per_step(int64_t keys_per_step) const;
  // Writes keys [B, dim] (normalised, no grad) at rows ptr..ptr+B-1, then ptr = (ptr + B) % K;
  // the written slots get age 0, every other slot ages by one.
  void enqueue(const Tensor& keys);
  const std::vector<int64_t>& ages() const { return ages_; }  // [K], see above

  // {"queue": [dim, K] float32, "queue_ptr": [1] int64}, names prefixed by `prefix`.
  nn::NamedTensors state_dict(const std::string& prefix = "") const;
  // Reads the two tensors of state_dict() (the names with `prefix`); throws naming what is missing or mis-shaped.
  // Also reads `prefix`queue_age when present; without it (official checkpoints) every age restarts at 0.
  void load_state_dict(const nn::NamedTensors& state, const std::string& prefix = "");
  // {"queue_age": [K] int64}, names prefixed by `prefix`.
  nn::NamedTensors age_state_dict(const std::string& prefix = "") const;

  Queue clone() const;     // a copy with its own storage
  void to(Device device);  // moves the keys

 private:
  Tensor keys_;
  int64_t ptr_ = 0;
  std::vector<int64_t> ages_;
};

}  // namespace moco::contrastive
