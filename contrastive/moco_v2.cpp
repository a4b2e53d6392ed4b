#include "contrastive/moco_v2.h"

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "contrastive/infonce.h"
#include "contrastive/momentum.h"
#include "nn/activation.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "nn/sequential.h"
#include "nn/state_dict.h"

namespace moco::contrastive {

std::string attach_v2_head(nn::Backbone& backbone, int64_t dim, bool mlp) {
  MOCO_CHECK(dim > 0, "MoCo: feature dimension --moco-dim must be positive, got {}", dim);
  const int64_t d = backbone.feature_dim();
  const std::string head = backbone.head_name();
  if (mlp)  // builder.py: nn.Sequential(nn.Linear(dim_mlp, dim_mlp), nn.ReLU(), encoder.fc)
    backbone.replace_child(head, std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
                                     std::make_shared<nn::Linear>(d, d), std::make_shared<nn::ReLU>(),
                                     std::make_shared<nn::Linear>(d, dim)}));
  else
    backbone.replace_child(head, std::make_shared<nn::Linear>(d, dim));
  return head;
}

MoCoV2::MoCoV2(std::shared_ptr<nn::Module> backbone_module, const MoCoV2Config& cfg)
    : cfg_(cfg), shuffle_gen_(cfg.shuffle_seed) {
  const std::shared_ptr<nn::Backbone> backbone = nn::as_backbone(backbone_module, "MoCo");
  MOCO_CHECK(cfg.K > 0, "MoCo: queue size --moco-k must be positive, got {}", cfg.K);
  MOCO_CHECK(cfg.T > 0, "MoCo: temperature --moco-t must be positive, got {}", cfg.T);
  set_momentum(cfg.m);
  attach_v2_head(*backbone, cfg.dim, cfg.mlp);
  use_split_batch_norm(*backbone, cfg.bn_splits);
  register_module("encoder_q", backbone);
  register_module("encoder_k", make_momentum_encoder(*backbone));
  queue_ = Queue(cfg.K, cfg.dim, nn::init_generator());
}

std::shared_ptr<nn::Module> MoCoV2::clone() const {
  auto m = std::make_shared<MoCoV2>(*this);
  m->make_deep();
  m->queue_ = queue_.clone();
  return m;
}

std::pair<Tensor, Tensor> MoCoV2::query_and_key(const Tensor& im_q, const Tensor& im_k, const Tensor* idx_shuffle) {
  MOCO_CHECK(im_q.dim() >= 1 && im_k.shape() == im_q.shape(), "MoCo: the two views differ in shape: {} and {}",
             shape_str(im_q.shape()), shape_str(im_k.shape()));
  Tensor q = normalize(query_encoder().forward(im_q), 1);
  NoGradGuard no_grad;
  // Nothing is drawn from the shuffle generator, so turning shuffle-BN off
  // changes nothing else about the run.
  if (!cfg_.shuffle_bn) return {q, normalize(key_encoder().forward(im_k), 1)};
  const int64_t n = im_k.size(0);
  if (distributed()) {
    // builder.py's _batch_shuffle_ddp / _batch_unshuffle_ddp: the key batch of
    // every rank, shuffled by rank 0's permutation; this rank forwards its
    // slice of it, then takes the keys of its own images back from everyone's.
    const int64_t ranks = group_->size(), r = group_->rank(), all = n * ranks;
    Tensor perm = idx_shuffle ? idx_shuffle->to(Device::cpu()).contiguous() : randperm(all, shuffle_gen_);
    MOCO_CHECK(perm.numel() == all, "MoCo: a shuffle of {} for a global batch of {} ({} ranks of {})", perm.numel(),
               all, ranks, n);
    group_->broadcast(perm, 0);  // every rank draws the same, but rank 0's is the one (as builder.py)
    const BatchShuffle s = batch_shuffle_from(perm, im_k.device());
    const Tensor mine = s.forward.narrow(0, r * n, n), back = s.backward.narrow(0, r * n, n);
    const Tensor x = index_select(all_gather_any_device(*group_, im_k), 0, mine);
    const Tensor k = all_gather_any_device(*group_, normalize(key_encoder().forward(x), 1));
    return {q, index_select(k, 0, back)};
  }
  BatchShuffle s = idx_shuffle ? batch_shuffle_from(*idx_shuffle, im_k.device())
                               : random_batch_shuffle(n, shuffle_gen_, im_k.device());
  MOCO_CHECK(s.forward.numel() == n, "MoCo: a shuffle of {} for a batch of {}", s.forward.numel(), n);
  Tensor k = normalize(key_encoder().forward(shuffle_batch(im_k, s)), 1);
  return {q, unshuffle_batch(k, s)};
}

MoCoOutput MoCoV2::forward_views(const Tensor& im_q, const Tensor& im_k) { return forward_views(im_q, im_k, {}); }

MoCoOutput MoCoV2::forward_views(const Tensor& im_q, const Tensor& im_k, const std::vector<Tensor>& idx_shuffle) {
  const size_t directions = cfg_.symmetric ? 2 : 1;
  MOCO_CHECK(idx_shuffle.empty() || idx_shuffle.size() == directions,
             "MoCo: {} shuffles given, expected {} (one per key forward)", idx_shuffle.size(), directions);
  MOCO_CHECK(idx_shuffle.empty() || cfg_.shuffle_bn, "MoCo: {} shuffles given with shuffle-BN off (--shuffle-bn=0)",
             idx_shuffle.size());
  MOCO_CHECK(im_q.dim() >= 1, "MoCo: expected a batch of images, got {}", shape_str(im_q.shape()));
  queue_.check_keys_per_step(im_q.size(0) * int64_t(directions) * (distributed() ? group_->size() : 1));
  {
    NoGradGuard no_grad;
    momentum_update(key_encoder(), query_encoder(), m_);  // before any key forward
  }
  auto perm = [&](size_t i) { return idx_shuffle.empty() ? nullptr : &idx_shuffle[i]; };
  std::vector<std::pair<Tensor, Tensor>> qk;
  qk.push_back(query_and_key(im_q, im_k, perm(0)));
  if (cfg_.symmetric) qk.push_back(query_and_key(im_k, im_q, perm(1)));

  queue_.to(im_q.device());
  Tensor negatives;
  {
    NoGradGuard no_grad;
    negatives = queue_.keys().clone();  // builder.py: self.queue.clone().detach(); enqueue() overwrites the queue
  }
  MoCoOutput out;
  std::vector<Tensor> keys;
  for (auto& [q, k] : qk) {
    ContrastiveLoss l = infonce_loss(q, k, negatives, cfg_.T);
    out.loss = out.loss.defined() ? add(out.loss, l.loss) : l.loss;
    out.logits.push_back(l.logits);
    out.labels.push_back(l.labels);
    out.q.push_back(q.detach());
    out.k.push_back(k);
    keys.push_back(k);
  }
  out.T = cfg_.T;
  // Symmetric: the demo enqueues cat([k1, k2]) where k1 = keys of im1 (the second direction's).
  if (cfg_.symmetric) std::swap(keys[0], keys[1]);
  if (distributed()) {  // builder.py's concat_all_gather: the queue takes every rank's keys, in rank order
    NoGradGuard no_grad;
    for (Tensor& k : keys) k = all_gather_any_device(*group_, k);
  }
  queue_.enqueue(keys.size() == 1 ? keys[0] : cat(keys, 0));
  return out;
}

nn::NamedTensors MoCoV2::checkpoint_state() const {
  nn::NamedTensors out = state_dict();
  // The ages before builder.py's buffers, so the file ends as the official layout plus the generator.
  for (auto& t : queue_.age_state_dict()) out.push_back(t);
  for (auto& t : queue_.state_dict()) out.push_back(t);
  out.emplace_back("shuffle_generator", Tensor::from_vector(std::vector<int64_t>{int64_t(shuffle_gen_.seed()),
                                                                                int64_t(shuffle_gen_.offset())},
                                                            {2}));
  return out;
}

void MoCoV2::load_checkpoint_state(const nn::NamedTensors& state) {
  nn::NamedTensors model;
  const Tensor* gen = nullptr;
  for (auto& [n, t] : state) {
    if (n == "shuffle_generator") gen = &t;
    else if (n != "queue" && n != "queue_ptr" && n != "queue_age") model.emplace_back(n, t);
  }
  // The shuffle generator is optional: checkpoints of the official code have
  // none (the current one is kept); ours always do, so a resumed run draws the same shuffles.
  if (gen)
    MOCO_CHECK(gen->numel() == 2 && gen->dtype() == DType::i64,
               "MoCo.load_checkpoint_state: 'shuffle_generator' must be int64 [2] (seed, offset), got {} {}",
               shape_str(gen->shape()), dtype_name(gen->dtype()));
  Queue queue = queue_.clone();
  queue.load_state_dict(state);  // checked before anything changes
  load_state_dict(model, true);  // checks everything, then copies
  queue_ = queue;
  if (gen) {
    auto v = gen->to_vector<int64_t>();
    shuffle_gen_.set_state(uint64_t(v[0]), uint64_t(v[1]));
  }
}

}  // namespace moco::contrastive
