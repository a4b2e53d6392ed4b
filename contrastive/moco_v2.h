// MoCo v1 and v2 (moco/builder.py, and the CIFAR-10 demo notebook's options).
//
// encoder_q = the backbone with its head replaced by
//     v1: Linear(d, dim)                              ("fc" / "head")
//     v2: Linear(d, d) → ReLU → Linear(d, dim)        ("fc.0", "fc.2"; --mlp)
// (d: the backbone's feature width) and, with bn_splits > 1, every
// BatchNorm2d replaced by SplitBatchNorm; encoder_k = its momentum copy; a
// queue of K normalised keys. forward_views(im_q, im_k):
//     q = normalize(encoder_q(im_q))
//     no grad: θk ← m·θk + (1−m)·θq;  k = unshuffle(normalize(encoder_k(shuffle(im_k))))
//              (shuffle_bn off: k = normalize(encoder_k(im_k)), no shuffle drawn)
//     logits = [q·k, q·queue]/T, loss = CE(logits, 0);  enqueue(k)
// With symmetric (the demo's --symmetric) the loss is InfoNCE(q1, k2) +
// InfoNCE(q2, k1), each key forward with its own shuffle, against the same
// queue; then both key batches are enqueued (k1 first), so K % 2N == 0.
//
// Recipes: v1 = {dim 128, K 65536, m 0.999, T 0.07}; v2 = v1 + mlp, T 0.2
// (+ aug-plus and cosine lr, which the command line sets); the CIFAR demo:
// K 4096, m 0.99, T 0.1, bn_splits 8.
#pragma once
#include "contrastive/moco.h"
#include "contrastive/queue.h"
#include "contrastive/shuffle_bn.h"
#include "tensor/process_group.h"

namespace moco::contrastive {

struct MoCoV2Config {
  int64_t dim = 128;       // --moco-dim
  int64_t K = 65536;       // --moco-k
  double m = 0.999;        // --moco-m
  double T = 0.07;         // --moco-t
  bool mlp = false;        // --mlp: the 2-layer MLP head (v2)
  bool symmetric = false;  // --symmetric
  int64_t bn_splits = 1;   // --bn-splits: SplitBatchNorm groups (1: plain BatchNorm2d)
  uint64_t shuffle_seed = 0;  // seeds the shuffle-BN permutations
  // --shuffle-bn=0: the keys go through encoder_k in the batch's own order, so
  // each key shares its BN group with its query: the paper's ablation (§3.3),
  // where BN statistics leak the positive and the pretext task gets easier.
  bool shuffle_bn = true;

  static MoCoV2Config v1() { return {}; }
  static MoCoV2Config v2() {
    MoCoV2Config c;
    c.mlp = true;
    c.T = 0.2;
    return c;
  }
};

// Replaces the backbone's head (ResNet fc / ViT head) by the v1 Linear or the
// v2 MLP head, drawing from the init generator. Returns the head's name.
std::string attach_v2_head(nn::Backbone& backbone, int64_t dim, bool mlp);

class MoCoV2 : public MoCo {
 public:
  // `backbone`: an nn::Backbone, a ResNet or VisionTransformer (its head is
  // replaced, any num_classes); anything else is refused. The queue is drawn
  // from the init generator (nn::init_generator()).
  MoCoV2(std::shared_ptr<nn::Module> backbone, const MoCoV2Config& cfg);
  std::string type_name() const override { return "MoCo"; }
  std::string version() const override { return cfg_.mlp ? "v2" : "v1"; }
  std::shared_ptr<nn::Module> clone() const override;

  MoCoOutput forward_views(const Tensor& im_q, const Tensor& im_k) override;
  // The same with given shuffles (int64 permutations of the batch, one per
  // key forward: 1, or 2 with the symmetric loss) instead of random ones;
  // none may be given with shuffle_bn off.
  MoCoOutput forward_views(const Tensor& im_q, const Tensor& im_k, const std::vector<Tensor>& idx_shuffle);

  nn::Backbone& query_encoder() const override { return encoder("encoder_q"); }
  nn::Backbone& key_encoder() const override { return encoder("encoder_k"); }
  // Data-parallel (builder.py under DDP): the key batch is gathered from every
  // rank, shuffled across them (rank 0's permutation) for the key encoder and
  // unshuffled back; the queue takes every rank's keys, so K must be a
  // multiple of the global batch. Null (the default): one process.
  void set_process_group(ProcessGroup* g) { group_ = g; }
  Queue& queue() { return queue_; }
  const Queue& queue() const { return queue_; }
  Generator& shuffle_generator() { return shuffle_gen_; }
  const MoCoV2Config& config() const { return cfg_; }

  nn::NamedTensors checkpoint_state() const override;
  void load_checkpoint_state(const nn::NamedTensors& state) override;

 private:
  // q and k of one direction: (normalised q with grad, normalised unshuffled k).
  std::pair<Tensor, Tensor> query_and_key(const Tensor& im_q, const Tensor& im_k, const Tensor* idx_shuffle);

  bool distributed() const { return group_ && group_->size() > 1; }

  MoCoV2Config cfg_;
  Queue queue_;
  Generator shuffle_gen_;
  ProcessGroup* group_ = nullptr;
};

}  // namespace moco::contrastive
