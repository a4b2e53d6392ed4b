#include "contrastive/queue.h"

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "nn/state_dict.h"

namespace moco::contrastive {

Queue::Queue(int64_t K, int64_t dim, Generator& gen, Device device) {
  MOCO_CHECK(K > 0 && dim > 0, "Queue: size K ({}) and key dim ({}) must be positive", K, dim);
  NoGradGuard no_grad;
  keys_ = normalize(randn({K, dim}, gen, DType::f32, device), 1);
  ages_.assign(size_t(K), 0);
}

void Queue::check_keys_per_step(int64_t n) const {
  MOCO_CHECK(n > 0, "Queue: keys per step must be positive, got {}", n);
  MOCO_CHECK(size() % n == 0,
             "Queue: the queue size K = {} must be a multiple of the keys enqueued per step ({}: the batch size, "
             "twice it with the symmetric loss); choose --moco-k and --batch-size so that K % {} == 0",
             size(), n, n);
}

void Queue::enqueue(const Tensor& k) {
  MOCO_CHECK(keys_.defined(), "Queue.enqueue: the queue was never initialised");
  MOCO_CHECK(k.dim() == 2 && k.size(1) == dim(), "Queue.enqueue: expected keys [B, {}], got {}", dim(),
             shape_str(k.shape()));
  const int64_t B = k.size(0);
  check_keys_per_step(B);
  MOCO_CHECK(ptr_ + B <= size(),
             "Queue.enqueue: {} keys do not fit at pointer {} of a queue of {} (the number of keys per step changed "
             "between steps)",
             B, ptr_, size());
  NoGradGuard no_grad;
  keys_.narrow(0, ptr_, B).copy_(k.detach());
  for (int64_t i = 0; i < size(); ++i) ages_[size_t(i)] = i >= ptr_ && i < ptr_ + B ? 0 : ages_[size_t(i)] + 1;
  ptr_ = (ptr_ + B) % size();
}

nn::NamedTensors Queue::state_dict(const std::string& prefix) const {
  MOCO_CHECK(keys_.defined(), "Queue.state_dict: the queue was never initialised");
  NoGradGuard no_grad;
  return {{prefix + "queue", keys_.t().contiguous()},
          {prefix + "queue_ptr", Tensor::from_vector(std::vector<int64_t>{ptr_}, {1})}};
}

void Queue::load_state_dict(const nn::NamedTensors& state, const std::string& prefix) {
  const Tensor& q = nn::find_tensor(state, prefix + "queue", "Queue.load_state_dict");
  const Tensor& p = nn::find_tensor(state, prefix + "queue_ptr", "Queue.load_state_dict");
  MOCO_CHECK(q.dim() == 2 && is_floating(q.dtype()),
             "Queue.load_state_dict: '{}queue' must be a floating [dim, K] tensor, got {} {}", prefix,
             shape_str(q.shape()), dtype_name(q.dtype()));
  if (keys_.defined())
    MOCO_CHECK(q.size(0) == dim() && q.size(1) == size(),
               "Queue.load_state_dict: '{}queue' is {}, expected [{}, {}] ([dim, K])", prefix, shape_str(q.shape()),
               dim(), size());
  MOCO_CHECK(p.numel() == 1 && p.dtype() == DType::i64, "Queue.load_state_dict: '{}queue_ptr' must be one int64",
             prefix);
  const int64_t ptr = int64_t(p.item());
  MOCO_CHECK(ptr >= 0 && ptr < q.size(1), "Queue.load_state_dict: queue_ptr {} is outside [0, {})", ptr, q.size(1));
  NoGradGuard no_grad;
  const Device dev = keys_.defined() ? keys_.device() : Device::cpu();
  Tensor k = Tensor::empty({q.size(1), q.size(0)}, DType::f32, dev);
  k.copy_(q.t());
  std::vector<int64_t> ages(size_t(q.size(1)), 0);
  const std::string age_name = prefix + "queue_age";
  for (auto& [n, a] : state)
    if (n == age_name) {
      MOCO_CHECK(a.dtype() == DType::i64 && a.dim() == 1 && a.size(0) == q.size(1),
                 "Queue.load_state_dict: '{}' must be int64 [{}] (one age per key), got {} {}", age_name, q.size(1),
                 shape_str(a.shape()), dtype_name(a.dtype()));
      ages = a.to_vector<int64_t>();
    }
  keys_ = k;
  ptr_ = ptr;
  ages_ = std::move(ages);
}

nn::NamedTensors Queue::age_state_dict(const std::string& prefix) const {
  MOCO_CHECK(keys_.defined(), "Queue.age_state_dict: the queue was never initialised");
  return {{prefix + "queue_age", Tensor::from_vector(ages_, {size()})}};
}

Queue Queue::clone() const {
  Queue out;
  NoGradGuard no_grad;
  if (keys_.defined()) out.keys_ = keys_.clone();
  out.ptr_ = ptr_;
  out.ages_ = ages_;
  return out;
}

void Queue::to(Device device) {
  if (keys_.defined() && keys_.device() != device) keys_ = keys_.to(device);
}

}  // namespace moco::contrastive
