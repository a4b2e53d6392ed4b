#!/usr/bin/python3
"""Parity fixtures for contrastive/ (MoCo v1/v2/v3 training steps), from PyTorch.

Re-run:  /usr/bin/python3 tests/parity/gen_moco.py
Writes   tests/parity/fixtures/moco/
  v2.safetensors      MoCo v2 (official builder.py), 2 steps
  v1_sym.safetensors  MoCo v1 head with the CIFAR demo's symmetric loss, 1 step
  v3_vit.safetensors  MoCo v3 ViT (3-layer projector, predictor with last BN,
                      stop_grad_conv1), SGD, 2 steps
  v3_resnet.safetensors  MoCo v3 ResNet (2-layer projector, predictor without
                      last BN), LARS, 1 step

The reference implementations are written out below from facebookresearch/moco
(moco/builder.py; colab/moco_cifar10_demo.ipynb: SplitBatchNorm, single-device
shuffle, symmetric loss) and facebookresearch/moco-v3 (moco/builder.py), with
the given shuffle permutations instead of torch.randperm inside.

Models (hyperparameters mirrored in tests/contrastive/test_moco_parity.cpp):
  v2:      ResNet-18, small stem, width 8, 3×16×16 inputs, MLP head 64→64→16,
           SplitBatchNorm with 2 splits, K 32, dim 16, m 0.99, T 0.2, batch 8;
           SGD lr 0.06, momentum 0.9, weight decay 5e-4 (the CIFAR demo's)
  v1_sym:  the same ResNet with the v1 fc head 64→16, plain BatchNorm2d,
           symmetric loss, K 32, m 0.99, T 0.1; SGD as above
  v3_vit:  ViT 16 px, patch 4, dim 48, depth 2, 3 heads, stop_grad_conv1;
           dim 16, mlp_dim 64, T 0.2, m 0.99; SGD lr 0.05, momentum 0.9, weight decay 1e-4
           (not AdamW: see gen_v3_vit)
  v3_resnet: the ResNet above with the v3 projector/predictor; dim 16,
           mlp_dim 32, T 1.0, m 0.99; LARS lr 0.6, weight decay 1e-6, momentum 0.9
Weights: ResNets use formula_init (gen_nn.py; tests/nn/nn_fixture.h) on the
query encoder's own names; the ViT's initial state dict is stored
("init/<name>", query encoder and predictor). The key encoder starts with the
query encoder's parameters and default buffers, as in the official code.

References are computed in float64 from float32-representable inputs and
weights and stored as float32. Per step s (1-based):
  step<s>/x1, step<s>/x2   the two views (x1 = im_q for v1/v2)
  step<s>/perm<d>          the shuffle of key forward d (v1/v2)
  step<s>/loss, step<s>/logits<d>
  step<s>/keys             the keys enqueued (v1/v2)
  step<s>/queue, step<s>/queue_ptr   the queue after the step ([dim, K])
  step<s>/grad/<name>      query-side gradients (v2 and v3_vit: step 1, all; others: a subset)
  after/<name>             model state dict after the last step (encoder_q.*, encoder_k.* /
                           base_encoder.*, momentum_encoder.*, predictor.*); v2 and v3_vit:
                           all of it; v1_sym and v3_resnet: buffers, 1-D parameters and a
                           few weights (to keep the fixtures small)
  queue0                   the initial queue [dim, K]
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from gen_nn import BasicBlock, VisionTransformerMoCo, WidthResNet, build_mlp_v3, f32, formula_init  # noqa: E402
from gen_optim import LARS  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "moco")


# ----------------------------------------------------------------------------- reference pieces
class SplitBatchNorm(nn.BatchNorm2d):
    """The CIFAR-10 demo notebook's SplitBatchNorm."""

    def __init__(self, num_features, num_splits, **kw):
        super().__init__(num_features, **kw)
        self.num_splits = num_splits

    def forward(self, input):
        N, C, H, W = input.shape
        if self.training or not self.track_running_stats:
            running_mean_split = self.running_mean.repeat(self.num_splits)
            running_var_split = self.running_var.repeat(self.num_splits)
            outcome = F.batch_norm(
                input.view(-1, C * self.num_splits, H, W), running_mean_split, running_var_split,
                self.weight.repeat(self.num_splits), self.bias.repeat(self.num_splits),
                True, self.momentum, self.eps).view(N, C, H, W)
            self.running_mean.data.copy_(running_mean_split.view(self.num_splits, C).mean(dim=0))
            self.running_var.data.copy_(running_var_split.view(self.num_splits, C).mean(dim=0))
            return outcome
        return F.batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias, False,
                            self.momentum, self.eps)


def use_split_bn(module, splits):
    for name, child in list(module.named_children()):
        if isinstance(child, nn.BatchNorm2d):
            sbn = SplitBatchNorm(child.num_features, splits)
            sbn.load_state_dict(child.state_dict())
            setattr(module, name, sbn)
        else:
            use_split_bn(child, splits)


def resnet_w8(num_classes):
    return WidthResNet(BasicBlock, [2, 2, 2, 2], width=8, num_classes=num_classes, in_ch=3, small_stem=True)


def key_copy(encoder_q, make):
    """The official initialisation: a freshly built encoder (default buffers)
    with the query encoder's parameters, requires_grad off."""
    encoder_k = make()
    for pq, pk in zip(encoder_q.parameters(), encoder_k.parameters()):
        pk.data.copy_(pq.data)
        pk.requires_grad = False
    return encoder_k


class MoCoV2Ref(nn.Module):
    """moco/builder.py MoCo on one device (shuffle as the demo's
    _batch_shuffle_single_gpu, with a given permutation), plus the demo's
    symmetric loss."""

    def __init__(self, encoder_q, encoder_k, queue, m, T, symmetric):
        super().__init__()
        self.encoder_q, self.encoder_k = encoder_q, encoder_k
        self.K, self.m, self.T, self.symmetric = queue.shape[1], m, T, symmetric
        self.register_buffer("queue", queue.clone())
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    @torch.no_grad()
    def _momentum_update_key_encoder(self):
        for param_q, param_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
            param_k.data = param_k.data * self.m + param_q.data * (1. - self.m)

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys):
        batch_size = keys.shape[0]
        ptr = int(self.queue_ptr)
        assert self.K % batch_size == 0
        self.queue[:, ptr:ptr + batch_size] = keys.t()
        self.queue_ptr[0] = (ptr + batch_size) % self.K

    def contrastive_loss(self, im_q, im_k, idx_shuffle):
        q = F.normalize(self.encoder_q(im_q), dim=1)
        with torch.no_grad():
            idx_unshuffle = torch.argsort(idx_shuffle)
            k = F.normalize(self.encoder_k(im_k[idx_shuffle]), dim=1)
            k = k[idx_unshuffle]
        l_pos = torch.einsum("nc,nc->n", [q, k]).unsqueeze(-1)
        l_neg = torch.einsum("nc,ck->nk", [q, self.queue.clone().detach()])
        logits = torch.cat([l_pos, l_neg], dim=1) / self.T
        labels = torch.zeros(logits.shape[0], dtype=torch.long)
        return F.cross_entropy(logits, labels), logits, k

    def forward(self, im1, im2, perms):
        with torch.no_grad():
            self._momentum_update_key_encoder()
        if self.symmetric:
            loss_12, logits_12, k2 = self.contrastive_loss(im1, im2, perms[0])
            loss_21, logits_21, k1 = self.contrastive_loss(im2, im1, perms[1])
            loss, logits, k = loss_12 + loss_21, [logits_12, logits_21], torch.cat([k1, k2], dim=0)
        else:
            loss, logits, k = self.contrastive_loss(im1, im2, perms[0])
            logits = [logits]
        self._dequeue_and_enqueue(k)
        return loss, logits, k


class MoCoV3Ref(nn.Module):
    """moco-v3/moco/builder.py MoCo (+ MoCo_ResNet / MoCo_ViT) on one device."""

    def __init__(self, base_encoder, momentum_encoder, predictor, T):
        super().__init__()
        self.base_encoder, self.momentum_encoder, self.predictor, self.T = base_encoder, momentum_encoder, predictor, T

    @torch.no_grad()
    def _update_momentum_encoder(self, m):
        for param_b, param_m in zip(self.base_encoder.parameters(), self.momentum_encoder.parameters()):
            param_m.data = param_m.data * m + param_b.data * (1. - m)

    def contrastive_loss(self, q, k):
        q = F.normalize(q, dim=1)
        k = F.normalize(k, dim=1)
        logits = torch.einsum("nc,mc->nm", [q, k]) / self.T
        labels = torch.arange(logits.shape[0], dtype=torch.long)
        return F.cross_entropy(logits, labels) * (2 * self.T), logits

    def forward(self, x1, x2, m):
        q1 = self.predictor(self.base_encoder(x1))
        q2 = self.predictor(self.base_encoder(x2))
        with torch.no_grad():
            self._update_momentum_encoder(m)
            k1 = self.momentum_encoder(x1)
            k2 = self.momentum_encoder(x2)
        l1, logits1 = self.contrastive_loss(q1, k2)
        l2, logits2 = self.contrastive_loss(q2, k1)
        return l1 + l2, [logits1, logits2]


def store_state(s, prefix, module):
    for k, v in module.state_dict().items():
        s[prefix + k] = f32(v) if v.is_floating_point() else v.clone()


def store_grads(s, prefix, module, keep=None):
    for k, p in module.named_parameters():
        if p.grad is not None and (keep is None or keep(k, p)):
            s[prefix + k] = f32(p.grad)


def views(n, shape):
    return [torch.randn(8, *shape) for _ in range(n)]


# ----------------------------------------------------------------------------- v1 / v2
def gen_v2(name, mlp, bn_splits, symmetric, T, steps):
    dim, K, m = 16, 32, 0.99

    def make():
        e = resnet_w8(dim)
        if mlp:
            e.fc = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), e.fc)
        if bn_splits > 1:
            use_split_bn(e, bn_splits)
        return e

    encoder_q = make()
    formula_init(encoder_q)
    encoder_k = key_copy(encoder_q, make)
    queue0 = F.normalize(torch.randn(dim, K), dim=0)
    model = MoCoV2Ref(encoder_q, encoder_k, queue0, m, T, symmetric).double().train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.06, momentum=0.9,
                          weight_decay=5e-4)
    s = {"queue0": f32(queue0)}
    for step in range(1, steps + 1):
        x1, x2 = views(2, (3, 16, 16))
        perms = [torch.randperm(8) for _ in range(2 if symmetric else 1)]
        p = f"step{step}/"
        s[p + "x1"], s[p + "x2"] = x1, x2
        for d, perm in enumerate(perms):
            s[p + f"perm{d}"] = perm
        loss, logits, k = model(x1.double(), x2.double(), perms)
        opt.zero_grad()
        loss.backward()
        s[p + "loss"] = f32(loss)
        for d, lg in enumerate(logits):
            s[p + f"logits{d}"] = f32(lg)
        s[p + "keys"] = f32(k)
        s[p + "queue"] = f32(model.queue)
        s[p + "queue_ptr"] = model.queue_ptr.clone()
        if step == 1:
            subset = None if name == "v2" else (lambda k, p: p.dim() == 1 or k in ("conv1.weight", "fc.weight"))
            store_grads(s, p + "grad/", model.encoder_q, subset)
        opt.step()
    after = {}
    store_state(after, "after/", nn.ModuleDict({"encoder_q": model.encoder_q, "encoder_k": model.encoder_k}))
    for k, v in after.items():  # v2: everything; v1_sym: every buffer and 1-D parameter, and two weights
        if name == "v2" or v.dim() <= 1 or k.endswith((".conv1.weight", ".fc.weight")) and "layer" not in k:
            s[k] = v
    return s


# ----------------------------------------------------------------------------- v3
def gen_v3_vit():
    dim, mlp_dim, T, m = 16, 64, 0.2, 0.99

    def make():
        v = VisionTransformerMoCo(img_size=16, patch_size=4, in_chans=3, num_classes=10, embed_dim=48, depth=2,
                                  num_heads=3, stop_grad_conv1=True)
        v.head = build_mlp_v3(3, 48, mlp_dim, dim)
        return v

    base = make()
    predictor = build_mlp_v3(2, dim, mlp_dim, dim)  # MoCo_ViT: the predictor keeps its last BN
    momentum = key_copy(base, make)
    s = {}
    store_state(s, "init/", nn.ModuleDict({"base_encoder": base, "predictor": predictor}))
    model = MoCoV3Ref(base, momentum, predictor, T).double().train()
    # SGD rather than the recipe's AdamW: Adam divides each gradient by its own
    # magnitude, so gradients that are exactly zero in exact arithmetic (the key
    # part of the qkv biases, the final norm's bias ahead of the projector's BN)
    # would turn float32 rounding noise into full-size updates. AdamW itself is
    # checked against PyTorch in tests/optim.
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05, momentum=0.9,
                          weight_decay=1e-4)
    for step in (1, 2):
        x1, x2 = views(2, (3, 16, 16))
        p = f"step{step}/"
        s[p + "x1"], s[p + "x2"] = x1, x2
        loss, logits = model(x1.double(), x2.double(), m)
        opt.zero_grad()
        loss.backward()
        s[p + "loss"] = f32(loss)
        for d, lg in enumerate(logits):
            s[p + f"logits{d}"] = f32(lg)
        if step == 1:
            store_grads(s, p + "grad/", nn.ModuleDict({"base_encoder": model.base_encoder,
                                                       "predictor": model.predictor}))
        opt.step()
    store_state(s, "after/", model)
    return s


def gen_v3_resnet():
    dim, mlp_dim, T, m = 16, 32, 1.0, 0.99

    def make():
        e = resnet_w8(mlp_dim)
        e.fc = build_mlp_v3(2, 64, mlp_dim, dim)
        return e

    base = make()
    formula_init(base)
    momentum = key_copy(base, make)
    predictor = build_mlp_v3(2, dim, mlp_dim, dim, last_bn=False)  # MoCo_ResNet: no last BN
    formula_init(predictor)
    model = MoCoV3Ref(base, momentum, predictor, T).double().train()
    opt = LARS([p for p in model.parameters() if p.requires_grad], lr=0.6, weight_decay=1e-6, momentum=0.9)
    x1, x2 = views(2, (3, 16, 16))
    s = {"step1/x1": x1, "step1/x2": x2}
    loss, logits = model(x1.double(), x2.double(), m)
    opt.zero_grad()
    loss.backward()
    s["step1/loss"] = f32(loss)
    for d, lg in enumerate(logits):
        s[f"step1/logits{d}"] = f32(lg)
    keep = lambda k, p: p.dim() == 1 or k in ("conv1.weight", "fc.0.weight", "fc.3.weight",  # noqa: E731
                                               "0.weight", "3.weight", "layer4.1.conv2.weight")
    store_grads(s, "step1/grad/base_encoder.", model.base_encoder, keep)
    store_grads(s, "step1/grad/predictor.", model.predictor, keep)
    opt.step()
    after = {}
    store_state(after, "after/", model)
    for k, v in after.items():  # the updated weights of a few tensors, every buffer
        if v.dim() <= 1 or k.split(".", 1)[1] in ("conv1.weight", "fc.0.weight", "0.weight"):
            s[k] = v
    return s


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    torch.manual_seed(5)
    safetensors_io.save(os.path.join(OUT, "v2.safetensors"), gen_v2("v2", True, 2, False, 0.2, 2))
    safetensors_io.save(os.path.join(OUT, "v1_sym.safetensors"), gen_v2("v1_sym", False, 1, True, 0.1, 1))
    safetensors_io.save(os.path.join(OUT, "v3_vit.safetensors"), gen_v3_vit())
    safetensors_io.save(os.path.join(OUT, "v3_resnet.safetensors"), gen_v3_resnet())
    for f in sorted(os.listdir(OUT)):
        print(f"{f:24s} {os.path.getsize(os.path.join(OUT, f)):>9d} bytes")
