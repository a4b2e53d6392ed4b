#include "contrastive/infonce.h"

#include "autograd/ops.h"

namespace moco::contrastive {

ContrastiveLoss infonce_loss(const Tensor& q, const Tensor& k, const Tensor& negatives, double T) {
  MOCO_CHECK(T > 0, "infonce_loss: temperature T = {} must be positive", T);
  MOCO_CHECK(q.dim() == 2 && k.shape() == q.shape(), "infonce_loss: q {} and k {} must both be [N, C]",
             shape_str(q.shape()), shape_str(k.shape()));
  MOCO_CHECK(negatives.dim() == 2 && negatives.size(1) == q.size(1),
             "infonce_loss: negatives must be [K, {}] (the queue), got {}", q.size(1), shape_str(negatives.shape()));
  const Tensor kd = k.detach(), nd = negatives.detach();
  Tensor l_pos = sum(mul(q, kd), {1}, true);  // [N, 1]: einsum('nc,nc->n')
  Tensor l_neg = matmul(q, nd.t());           // [N, K]: einsum('nc,ck->nk') with the queue as [C, K]
  ContrastiveLoss out;
  out.logits = div(cat({l_pos, l_neg}, 1), Tensor::scalar(T, q.dtype(), q.device()));
  out.labels = Tensor::zeros({q.size(0)}, DType::i64, q.device());
  out.loss = cross_entropy(out.logits, out.labels);
  return out;
}

ContrastiveLoss ctr_loss(const Tensor& q_in, const Tensor& k_in, double T, int64_t label_offset) {
  MOCO_CHECK(T > 0, "ctr_loss: temperature T = {} must be positive", T);
  MOCO_CHECK(q_in.dim() == 2 && k_in.dim() == 2 && q_in.size(1) == k_in.size(1),
             "ctr_loss: q {} and k {} must be [N, C] and [M, C]", shape_str(q_in.shape()), shape_str(k_in.shape()));
  MOCO_CHECK(label_offset >= 0 && label_offset + q_in.size(0) <= k_in.size(0),
             "ctr_loss: the positives of {} queries from key {} on are past the {} keys", q_in.size(0), label_offset,
             k_in.size(0));
  Tensor q = normalize(q_in, 1), k = normalize(k_in, 1);
  ContrastiveLoss out;
  out.logits = div(matmul(q, k.t()), Tensor::scalar(T, q.dtype(), q.device()));  // einsum('nc,mc->nm') / T
  out.labels = Tensor::arange(double(label_offset), double(label_offset + q.size(0)), 1, DType::i64, q.device());
  out.loss = mul(cross_entropy(out.logits, out.labels), 2 * T);
  return out;
}

}  // namespace moco::contrastive
