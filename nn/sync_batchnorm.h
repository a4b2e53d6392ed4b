// SyncBatchNorm (torch.nn.SyncBatchNorm): BatchNorm1d / BatchNorm2d whose
// training statistics are those of the global batch, over every rank of a
// process group: each rank sums its slice per channel, the sums are added
// over the ranks (an all-reduce in the forward and, for their gradients, in
// the backward) into the global mean; the same for the squared deviations
// from it, the global variance; and each rank normalises its slice with them.
// Inputs as the BatchNorm it replaces: [N, C] or [N, C, L] (BatchNorm1d, as
// in MoCo v3's projector and predictor), [N, C, H, W] (BatchNorm2d). MoCo v3
// trains with it; `--sync-bn` puts it in place of every BatchNorm. In one
// process, or in evaluation, it is the BatchNorm it replaced exactly.
#pragma once
#include "nn/batchnorm.h"
#include "tensor/process_group.h"

namespace moco::nn {

class SyncBatchNorm : public BatchNorm {
 public:
  // Takes over `bn`'s tensors (shared, not copied), configuration and accepted input ranks.
  SyncBatchNorm(const BatchNorm& bn, ProcessGroup& group);
  std::string type_name() const override { return "SyncBatchNorm"; }
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Module> clone() const override;

 private:
  ProcessGroup* group_;
};

// Element-wise sum of `x` over the ranks of `g`, differentiable: the gradient
// of a rank's x is the sum of every rank's gradient of the result.
Tensor all_reduce_sum(const Tensor& x, ProcessGroup& g);

// Replaces every BatchNorm1d and BatchNorm2d below `root` by a SyncBatchNorm
// over `group` (torch's convert_sync_batchnorm); returns how many.
int64_t use_sync_batch_norm(Module& root, ProcessGroup& group);

}  // namespace moco::nn
