#include "train/checkpoint_knn.h"

#include "nn/state_dict.h"
#include "tensor/backend.h"
#include "tensor/error.h"
#include "train/checkpoint.h"
#include "train/pretrain.h"
#include "train/run_flags.h"
#include "train/run_setup.h"

namespace moco::train {

CheckpointKnn checkpoint_knn(Flags& a, const TrainingHooks& hooks) {
  MOCO_CHECK(!a.str("pretrained").empty(), "moco knn needs --pretrained RUN_OR_CHECKPOINT");
  Pretrained pre = load_pretrained(a.str("pretrained"));
  adopt_model_flags(a, pre);
  const int threads = int(a.integer("threads", 0, 4096));
  if (threads > 0) set_num_threads(threads);
  const Device dev = open_device(a.str("device"));
  const uint64_t seed = uint64_t(a.integer("seed", 0));
  CheckpointKnn r;
  r.checkpoint = pre.path;
  r.data = open_data(a, a.real("label-fraction", 0, 1), seed);
  const DataSetup& d = r.data;
  r.spec = model_spec(a, d.size, d.channels, 0);
  std::shared_ptr<nn::Backbone> model = make_backbone(r.spec);
  nn::load_into(model->state_dict(), pre.backbone, true, "--pretrained " + pre.path);
  model->to(dev);
  model->eval();
  auto f = [&](const Tensor& x) { return model->features(to_device(x, dev)); };
  r.k = a.integer("knn-k", 1);
  r.t = a.real("knn-t", 1e-9);
  r.top1 = knn_top1(f, d.train, d.val, d, r.k, r.t, a.integer("knn-bank", 0), a.integer("knn-test", 0), seed,
                    a.integer("batch-size", 1), hooks);
  return r;
}

}  // namespace moco::train
