#!/usr/bin/python3
"""Timing of self-supervised / supervised training steps in PyTorch (eager, fp32), on the CPU or a GPU.

A copy of /work/shared/reference/moco_torch_bench.py (the CPU reference) with:
  --device cpu|cuda   where the models, inputs and every tensor of the step live
  --mode sup_vit      supervised ViT-Tiny (patch 4, 10 classes, everything trainable,
                      AdamW lr 1.5e-4*B/256, wd 0.1): what `moco bench --model vit_tiny` times
  --tf32              allow TF32 in cuDNN convolutions and cuBLAS matmuls. Off by default,
                      so the GPU numbers are true float32 (PyTorch's own default allows TF32
                      in cuDNN convolutions); moco.cpp's counterpart is MOCO_CUDA_TF32=1.
  --cudnn-benchmark   torch.backends.cudnn.benchmark = True (moco.cpp times cuDNN's algorithms
                      once per shape, which is what this does)
On a GPU the step ends with loss.item(), which waits for the device, so the wall-clock
time per step is the GPU's. The JSON line adds device, gpu, tf32, cudnn_benchmark and
peak_cuda_MiB. Everything else is the reference's, unchanged.

Modes (one per process, so peak RSS is per configuration):
  mocov2   : MoCo v2 step. Query encoder = torchvision resnet18 adapted for small images
             (conv1 3x3 s1 p1, no maxpool) with 2-layer MLP head 512->512->ReLU->128;
             key encoder = momentum copy (m=0.99) updated under no_grad; queue K=4096 of
             L2-normalised 128-d keys; InfoNCE, T=0.2, via CE on [l_pos, l_neg];
             SGD(lr=0.06, momentum=0.9, wd=5e-4). Batch shuffle/unshuffle of keys as in
             the official code (on one device it is a permutation only; BN is plain
             BatchNorm2d unless --bn-splits > 1, which uses SplitBatchNorm as in the
             official MoCo CIFAR-10 demo notebook).
  sup      : supervised resnet18 (same small-image stem), 10 classes, CE, same SGD.
  mocov3   : MoCo v3 step with a ViT (patch 4, dim 192, depth 12, heads 3, 32x32 -> 64
             tokens + cls), fixed 2-D sin-cos pos-embed, frozen (random) patch projection,
             3-layer projector (BN, hidden 4096, out 256, last BN affine=False) and
             2-layer predictor (hidden 4096), momentum encoder (m=0.99), symmetric
             contrastive loss ctr(q1,k2)+ctr(q2,k1) with T=0.2 (scaled by 2T), no queue,
             AdamW(lr=1.5e-4*B/256, wd=0.1).

Inputs: random float32 tensors (B, C, H, W), two views (fixed, generated once).
Timing: --warmup steps, then --steps timed steps; median seconds/step; images/s = B/median.
A "step" = zero_grad + forward (incl. momentum update, key forward) + loss + backward +
optimizer.step (+ enqueue for MoCo v2).
For sup also the forward+backward only time is measured separately.
"""
import argparse, json, math, os, resource, statistics, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


# ----------------------------------------------------------------------------- ResNet18
class SplitBatchNorm(nn.BatchNorm2d):
    """From the official MoCo CIFAR-10 demo: emulates shuffle-BN on one device."""

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
        return F.batch_norm(input, self.running_mean, self.running_var,
                            self.weight, self.bias, False, self.momentum, self.eps)


def small_resnet18(num_classes, in_ch=3, mlp=False, bn_splits=1):
    norm_layer = None
    if bn_splits > 1:
        norm_layer = lambda c: SplitBatchNorm(c, bn_splits)
    m = torchvision.models.resnet18(weights=None, num_classes=num_classes, norm_layer=norm_layer)
    m.conv1 = nn.Conv2d(in_ch, 64, kernel_size=3, stride=1, padding=1, bias=False)
    m.maxpool = nn.Identity()
    if mlp:
        dim_mlp = m.fc.weight.shape[1]  # 512
        m.fc = nn.Sequential(nn.Linear(dim_mlp, dim_mlp), nn.ReLU(), m.fc)  # 512->512->ReLU->128
    return m


class MoCoV2(nn.Module):
    def __init__(self, in_ch=3, dim=128, K=4096, m=0.99, T=0.2, bn_splits=1):
        super().__init__()
        self.K, self.m, self.T = K, m, T
        self.encoder_q = small_resnet18(dim, in_ch, mlp=True, bn_splits=bn_splits)
        self.encoder_k = small_resnet18(dim, in_ch, mlp=True, bn_splits=bn_splits)
        for pq, pk in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
            pk.data.copy_(pq.data)
            pk.requires_grad = False
        self.register_buffer("queue", F.normalize(torch.randn(dim, K), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    @torch.no_grad()
    def _momentum_update_key_encoder(self):
        for pq, pk in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
            pk.data = pk.data * self.m + pq.data * (1.0 - self.m)

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys):
        bs = keys.shape[0]
        ptr = int(self.queue_ptr)
        assert self.K % bs == 0
        self.queue[:, ptr:ptr + bs] = keys.T
        self.queue_ptr[0] = (ptr + bs) % self.K

    def forward(self, im_q, im_k):
        q = F.normalize(self.encoder_q(im_q), dim=1)
        with torch.no_grad():
            self._momentum_update_key_encoder()
            idx_shuffle = torch.randperm(im_k.shape[0], device=im_k.device)  # shuffle BN (single device)
            idx_unshuffle = torch.argsort(idx_shuffle)
            k = F.normalize(self.encoder_k(im_k[idx_shuffle]), dim=1)
            k = k[idx_unshuffle]
        l_pos = torch.einsum("nc,nc->n", [q, k]).unsqueeze(-1)
        l_neg = torch.einsum("nc,ck->nk", [q, self.queue.clone().detach()])
        logits = torch.cat([l_pos, l_neg], dim=1) / self.T
        labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        self._dequeue_and_enqueue(k)
        return logits, labels


# ----------------------------------------------------------------------------- ViT / MoCo v3
def sincos_pos_embed_2d(h, w, dim, temperature=10000.0):
    gy, gx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    pos_dim = dim // 4
    omega = 1.0 / (temperature ** (torch.arange(pos_dim, dtype=torch.float32) / pos_dim))
    out_w = gx.flatten()[:, None] * omega[None]
    out_h = gy.flatten()[:, None] * omega[None]
    pe = torch.cat([out_w.sin(), out_w.cos(), out_h.sin(), out_h.cos()], dim=1)[None]
    return torch.cat([torch.zeros(1, 1, dim), pe], dim=1)  # cls token gets zeros (MoCo v3)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.h = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.h, C // self.h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, int(dim * mlp_ratio))
        self.fc2 = nn.Linear(int(dim * mlp_ratio), dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    def __init__(self, img=32, patch=4, in_ch=3, dim=192, depth=12, heads=3, num_classes=1000):
        super().__init__()
        self.patch_embed = nn.Conv2d(in_ch, dim, patch, patch)
        # MoCo v3 "stop_grad_conv1": random patch projection is frozen
        self.patch_embed.weight.requires_grad = False
        self.patch_embed.bias.requires_grad = False
        g = img // patch
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 1e-6)
        self.pos_embed = nn.Parameter(sincos_pos_embed_2d(g, g, dim), requires_grad=False)
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def _build_mlp(num_layers, input_dim, mlp_dim, output_dim, last_bn=True):  # as in MoCo v3
    mlp = []
    for l in range(num_layers):
        dim1 = input_dim if l == 0 else mlp_dim
        dim2 = output_dim if l == num_layers - 1 else mlp_dim
        mlp.append(nn.Linear(dim1, dim2, bias=False))
        if l < num_layers - 1:
            mlp.append(nn.BatchNorm1d(dim2))
            mlp.append(nn.ReLU(inplace=True))
        elif last_bn:
            mlp.append(nn.BatchNorm1d(dim2, affine=False))
    return nn.Sequential(*mlp)


class MoCoV3ViT(nn.Module):
    def __init__(self, in_ch=3, img=32, depth=12, heads=3, dim=256, mlp_dim=4096, T=0.2, m=0.99):
        super().__init__()
        self.T, self.m = T, m
        self.base_encoder = ViT(img=img, in_ch=in_ch, depth=depth, heads=heads)
        self.momentum_encoder = ViT(img=img, in_ch=in_ch, depth=depth, heads=heads)
        hidden = self.base_encoder.head.weight.shape[1]
        self.base_encoder.head = _build_mlp(3, hidden, mlp_dim, dim)
        self.momentum_encoder.head = _build_mlp(3, hidden, mlp_dim, dim)
        self.predictor = _build_mlp(2, dim, mlp_dim, dim, last_bn=False)
        for pb, pm in zip(self.base_encoder.parameters(), self.momentum_encoder.parameters()):
            pm.data.copy_(pb.data)
            pm.requires_grad = False

    @torch.no_grad()
    def _update_momentum_encoder(self):
        for pb, pm in zip(self.base_encoder.parameters(), self.momentum_encoder.parameters()):
            pm.data = pm.data * self.m + pb.data * (1.0 - self.m)

    def contrastive_loss(self, q, k):
        q = F.normalize(q, dim=1)
        k = F.normalize(k, dim=1)
        logits = torch.einsum("nc,mc->nm", [q, k]) / self.T
        labels = torch.arange(logits.shape[0], dtype=torch.long, device=logits.device)
        return F.cross_entropy(logits, labels) * (2 * self.T)

    def forward(self, x1, x2):
        q1 = self.predictor(self.base_encoder(x1))
        q2 = self.predictor(self.base_encoder(x2))
        with torch.no_grad():
            self._update_momentum_encoder()
            k1 = self.momentum_encoder(x1)
            k2 = self.momentum_encoder(x2)
        return self.contrastive_loss(q1, k2) + self.contrastive_loss(q2, k1)


# ----------------------------------------------------------------------------- driver
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["mocov2", "sup", "mocov3", "sup_vit"], required=True)
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 in cuDNN and cuBLAS (off: true float32)")
    ap.add_argument("--cudnn-benchmark", action="store_true", help="torch.backends.cudnn.benchmark = True")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--bn-splits", type=int, default=1)
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--heads", type=int, default=3)
    ap.add_argument("--json", default=None, help="append a JSON line with results to this file")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    if dev.type == "cuda":
        assert torch.cuda.is_available(), "--device cuda: this PyTorch has no usable CUDA GPU"
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
        torch.backends.cudnn.allow_tf32 = a.tf32
        torch.backends.cudnn.benchmark = a.cudnn_benchmark
    B, C, S = a.batch, a.channels, a.size
    x1 = torch.randn(B, C, S, S).to(dev)
    x2 = torch.randn(B, C, S, S).to(dev)

    fb_times = []
    if a.mode == "mocov2":
        model = MoCoV2(in_ch=C, bn_splits=a.bn_splits).to(dev).train()
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.06, momentum=0.9, weight_decay=5e-4)
        crit = nn.CrossEntropyLoss()

        def step():
            opt.zero_grad(set_to_none=True)
            logits, labels = model(x1, x2)
            loss = crit(logits, labels)
            loss.backward()
            opt.step()
            return loss.item()
    elif a.mode == "sup":
        model = small_resnet18(10, C, bn_splits=a.bn_splits).to(dev).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.06, momentum=0.9, weight_decay=5e-4)
        y = torch.randint(0, 10, (B,)).to(dev)

        def step():
            opt.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            loss = F.cross_entropy(model(x1), y)
            loss.backward()
            fb_times.append(time.perf_counter() - t0)
            opt.step()
            return loss.item()
    elif a.mode == "sup_vit":
        model = ViT(img=S, in_ch=C, depth=a.depth, heads=a.heads, num_classes=10).to(dev).train()
        for p in model.patch_embed.parameters():  # supervised: everything trains (moco bench --model vit_tiny)
            p.requires_grad = True
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1.5e-4 * B / 256, weight_decay=0.1)
        y = torch.randint(0, 10, (B,)).to(dev)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x1), y)
            loss.backward()
            opt.step()
            return loss.item()
    else:
        model = MoCoV3ViT(in_ch=C, img=S, depth=a.depth, heads=a.heads).to(dev).train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1.5e-4 * B / 256, weight_decay=0.1)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = model(x1, x2)
            loss.backward()
            opt.step()
            return loss.item()

    nparam = sum(p.numel() for p in model.parameters() if p.requires_grad)
    losses, times = [], []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        losses.append(step())
        dt = time.perf_counter() - t0
        if i >= a.warmup:
            times.append(dt)
    if fb_times:
        fb_times = fb_times[a.warmup:]
    med = statistics.median(times)
    res = dict(
        mode=a.mode, batch=B, input=[C, S, S], threads=torch.get_num_threads(), bn_splits=a.bn_splits,
        depth=a.depth if a.mode in ("mocov3", "sup_vit") else None,
        device=str(dev), gpu=torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
        tf32=a.tf32 if dev.type == "cuda" else None, cudnn_benchmark=a.cudnn_benchmark if dev.type == "cuda" else None,
        peak_cuda_MiB=round(torch.cuda.max_memory_allocated(dev) / 2**20, 1) if dev.type == "cuda" else None,
        trainable_params=nparam,
        sec_per_step_median=round(med, 4), sec_min=round(min(times), 4), sec_max=round(max(times), 4),
        img_per_s=round(B / med, 1),
        fwd_bwd_sec_median=round(statistics.median(fb_times), 4) if fb_times else None,
        peak_rss_MiB=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        losses=[round(l, 4) for l in losses],
        torch=torch.__version__, torchvision=torchvision.__version__,
        OPENBLAS_CORETYPE=os.environ.get("OPENBLAS_CORETYPE"), OPENBLAS_L2_SIZE=os.environ.get("OPENBLAS_L2_SIZE"),
        OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS"),
        step_times=[round(t, 4) for t in times],
    )
    line = json.dumps(res)
    print(line, flush=True)
    if a.json:
        with open(a.json, "a") as f:
            f.write(line + "\n")
    assert all(math.isfinite(l) for l in losses), "non-finite loss"


if __name__ == "__main__":
    main()
