// Everything in contrastive/: include this to build and train MoCo models.
//
//   queue.h       Queue: K×dim ring of normalised keys (v1/v2), checkpointed as builder.py's buffers
//   momentum.h    make_momentum_encoder, momentum_update (θk ← m·θk + (1−m)·θq), MomentumSchedule
//   shuffle_bn.h  batch shuffle/unshuffle, SplitBatchNorm (--bn-splits), use_split_batch_norm
//   infonce.h     infonce_loss (v1/v2: [q·k, q·queue]/T, label 0), ctr_loss (v3)
//   moco.h        MoCo: the interface the command line drives (forward_views, checkpoint_state, ...)
//   moco_v2.h     MoCoV2 (v1: fc head, v2: MLP head; queue; shuffle-BN; --symmetric)
//   moco_v3.h     MoCoV3 (projector + predictor, no queue)
//   knn.h         the kNN monitor (k 200, T 0.1, similarity-weighted vote)
//   internals.h   what training looks like inside: logits as cosines, drift, feature std, alignment,
//                 uniformity, queue age / similarity, gradient norm (moco pretrain --log-every)
//
// A pretraining loop (the shape of main_moco.py):
//
//   nn::ResNetConfig rc;  rc.in_channels = 1;  rc.small_stem = true;  rc.num_classes = 0;
//   MoCoV2Config cfg = MoCoV2Config::v2();  cfg.K = 4096;  cfg.m = 0.99;  cfg.bn_splits = 8;
//   auto model = std::make_shared<MoCoV2>(nn::resnet(18, rc), cfg);   // or MoCoV3(backbone, MoCoV3Config)
//   optim::SGD opt({optim::make_group(model->named_parameters())}, {0.06, 0.9, 0, 5e-4});
//   MomentumSchedule ms{cfg.m, /*cosine (v3 --moco-m-cos)=*/false, epochs};
//   for each epoch e, batch i:
//     opt.set_lr(...);  model->set_momentum(ms(e + double(i) / iters));
//     MoCoOutput out = model->forward_views(batch.views[0], batch.views[1]);
//     opt.zero_grad();  out.loss.backward();  opt.step();
//   checkpoint: model->checkpoint_state() (+ the optimiser's state_dict()); resume: load_checkpoint_state()
//   kNN: model->query_encoder().eval(); knn_evaluate(fn, memory_loader, test_loader, classes)
//   linear probe / fine-tuning: model->backbone_state_dict() into a fresh ResNet / ViT
#pragma once
#include "contrastive/infonce.h"
#include "contrastive/internals.h"
#include "contrastive/knn.h"
#include "contrastive/moco.h"
#include "contrastive/moco_v2.h"
#include "contrastive/moco_v3.h"
#include "contrastive/momentum.h"
#include "contrastive/queue.h"
#include "contrastive/shuffle_bn.h"
