#!/usr/bin/python3
"""PyTorch's side of bench/train_step_bench.sh: the supervised training steps
that `moco bench` times, in PyTorch eager float32 on the CPU.

  --model resnet18   torchvision resnet18 with the small-image stem (conv1 3x3
                     stride 1, no max-pool), 10 classes, SGD(0.06, 0.9, wd 5e-4)
                     — the same model and optimiser as the reference
                     moco_torch_bench.py --mode sup
  --model vit_tiny   ViT-Tiny (dim 192, depth 12, 3 heads, patch 4, timm/MoCo v3
                     structure, sin-cos position embedding, everything
                     trainable), 10 classes, AdamW(lr 1.5e-4*B/256, wd 0.1)

A step = zero_grad + forward + cross-entropy + backward + optimizer.step +
loss.item(), on fixed random inputs; median over --steps after --warmup.
Prints one JSON line with the keys `moco bench --json` prints.
Run with Debian's interpreter: /usr/bin/python3 bench/torch_train_step.py --model resnet18
"""
import argparse
import json
import math
import os
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def small_resnet18(num_classes, in_ch):
    m = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    m.conv1 = nn.Conv2d(in_ch, 64, kernel_size=3, stride=1, padding=1, bias=False)
    m.maxpool = nn.Identity()
    return m


def sincos_pos_embed(grid, dim, temperature=10000.0):
    gw, gh = torch.meshgrid(torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32),
                            indexing="ij")
    omega = 1.0 / (temperature ** (torch.arange(dim // 4, dtype=torch.float32) / (dim // 4)))
    ow, oh = gw.flatten()[:, None] * omega[None], gh.flatten()[:, None] * omega[None]
    pe = torch.cat([ow.sin(), ow.cos(), oh.sin(), oh.cos()], dim=1)[None]
    return torch.cat([torch.zeros(1, 1, dim), pe], dim=1)


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


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), Attention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim, eps=1e-6), Mlp(dim, 4 * dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, img=32, patch=4, in_ch=3, dim=192, depth=12, heads=3, num_classes=10):
        super().__init__()
        self.patch_embed = nn.Conv2d(in_ch, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 1e-6)
        self.pos_embed = nn.Parameter(sincos_pos_embed(img // patch, dim), requires_grad=False)
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["resnet18", "vit_tiny"], default="resnet18")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    B, C, S = a.batch, a.channels, a.size
    x = torch.randn(B, C, S, S)
    y = torch.randint(0, 10, (B,))
    if a.model == "resnet18":
        model = small_resnet18(10, C).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.06, momentum=0.9, weight_decay=5e-4)
    else:
        model = ViT(img=S, in_ch=C, depth=a.depth).train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1.5e-4 * B / 256,
                                weight_decay=0.1)

    def cpu_seconds():  # the whole process, every thread, user + system
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime

    times, fwd, bwd, upd, cpu, losses = [], [], [], [], [], []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        c0 = cpu_seconds()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        losses.append(loss.item())
        t3 = time.perf_counter()
        if i >= a.warmup:
            cpu.append(cpu_seconds() - c0)
            times.append(t3 - t0)
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
            upd.append(t3 - t2)
    med = statistics.median(times)
    print(json.dumps(dict(
        impl="pytorch", model=a.model, batch=B, input=[C, S, S], threads=torch.get_num_threads(),
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        images_per_sec=round(B / med, 2), sec_per_step=round(med, 4), sec_min=round(min(times), 4),
        sec_max=round(max(times), 4), forward_sec=round(statistics.median(fwd), 4),
        backward_sec=round(statistics.median(bwd), 4), optimizer_sec=round(statistics.median(upd), 4),
        cpu_sec_per_step=round(statistics.median(cpu), 4),
        peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        losses=[round(v, 4) for v in losses], torch=torch.__version__,
        OPENBLAS_CORETYPE=os.environ.get("OPENBLAS_CORETYPE"), OPENBLAS_L2_SIZE=os.environ.get("OPENBLAS_L2_SIZE"))),
        flush=True)
    assert all(math.isfinite(v) for v in losses), "non-finite loss"


if __name__ == "__main__":
    main()
