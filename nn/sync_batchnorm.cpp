#include "nn/sync_batchnorm.h"

#include <cmath>

#include "autograd/engine.h"
#include "autograd/ops.h"

namespace moco::nn {

namespace {

Tensor summed_over_ranks(const Tensor& t, ProcessGroup& g) {
  // On the GPU when the group takes it there (NCCL), else through the host.
  Tensor c = (g.takes(t.device()) ? t : t.to(Device::cpu())).contiguous().clone();
  g.all_reduce_sum(c);
  return c.device() == t.device() ? c : c.to(t.device());
}

}  // namespace

Tensor all_reduce_sum(const Tensor& x, ProcessGroup& g) {
  Tensor y;
  {
    NoGradGuard no_grad;
    y = summed_over_ranks(x, g);
  }
  ProcessGroup* gp = &g;
  record(y, "all_reduce_sum", {x}, [gp](const Tensor& grad_y) {
    return std::vector<Tensor>{summed_over_ranks(grad_y, *gp)};
  });
  return y;
}

SyncBatchNorm::SyncBatchNorm(const BatchNorm& bn, ProcessGroup& group) : BatchNorm(bn), group_(&group) {}

std::shared_ptr<Module> SyncBatchNorm::clone() const {
  auto m = std::make_shared<SyncBatchNorm>(*this);
  m->make_deep();
  return m;
}

Tensor SyncBatchNorm::forward(const Tensor& x) {
  if (!is_training() || group_->size() == 1) return BatchNorm::forward(x);
  const BatchNormConfig& cfg = config();
  check_input(x);
  const int64_t C = num_features();
  // The statistics are per channel (dim 1): reduced over the batch and every
  // dim after the channels, broadcast back as [1, C, 1...].
  std::vector<int64_t> over = {0}, per_channel = {1, C};
  for (int64_t d = 2; d < x.dim(); ++d) over.push_back(d), per_channel.push_back(1);
  std::vector<double> count = {double(x.numel() / C)};
  group_->all_reduce_sum(count);
  const double n = count[0];
  MOCO_CHECK(n > 1, "SyncBatchNorm: {} value(s) per channel over all ranks; training needs more than 1", n);
  // Two passes, as BatchNorm's own kernel: the mean, then the mean square
  // deviation from it (E[x²] − E[x]² would lose digits to cancellation).
  const Tensor mu = mul(all_reduce_sum(sum(x, over), *group_), 1.0 / n);
  const Tensor centred = sub(x, mu.view(per_channel));
  const Tensor var = mul(all_reduce_sum(sum(mul(centred, centred), over), *group_), 1.0 / n);
  const Tensor inv = rsqrt(add(var, cfg.eps));
  Tensor y = mul(centred, inv.view(per_channel));
  if (cfg.affine) y = add(mul(y, weight().view(per_channel)), bias().view(per_channel));
  if (cfg.track_running_stats) {
    NoGradGuard no_grad;
    const double m = cfg.momentum;
    running_mean().copy_(add(mul(running_mean(), 1 - m), mul(mu.detach(), m)));
    running_var().copy_(add(mul(running_var(), 1 - m), mul(var.detach(), m * n / (n - 1))));  // unbiased, as BN
    const Tensor& t = num_batches_tracked();
    t.fill_(t.item() + 1);
  }
  return y;
}

int64_t use_sync_batch_norm(Module& root, ProcessGroup& group) {
  // Collect first: replacing a child destroys it, and named_modules() lists raw pointers.
  std::vector<std::pair<Module*, std::string>> targets;
  for (auto& [path, m] : root.named_modules())
    for (auto& [name, child] : m->children())
      if (child->type_name() == "BatchNorm1d" || child->type_name() == "BatchNorm2d") targets.emplace_back(m, name);
  for (auto& [parent, name] : targets) {
    auto& bn = static_cast<BatchNorm&>(parent->child(name));
    parent->replace_child(name, std::make_shared<SyncBatchNorm>(bn, group));
  }
  return int64_t(targets.size());
}

}  // namespace moco::nn
