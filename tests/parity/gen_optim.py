#!/usr/bin/python3
"""Parity fixtures for optim/ (SGD, AdamW, LARS, schedules), from PyTorch and
the MoCo reference code.

Re-run:  /usr/bin/python3 tests/parity/gen_optim.py
Writes   tests/parity/fixtures/optim/optim.safetensors
         tests/parity/fixtures/optim/schedules.safetensors

optim.safetensors: four float32 parameters p0 [5,4], p1 [4], p2 [3,2,2] and
p3 [6] (all zeros: LARS's zero-norm branch), a gradient for each of 3 steps
("grad/<step>/<i>"), and per case C:
  C/step/<s>/<i>     parameter i after step s (s = 1, 2, 3)
  C/state/<i>/<name> the optimiser state after step 3 (torch's names;
                     LARS keeps "mu" as MoCo v3 does)
The cases (hyperparameters mirrored in tests/optim/test_optim_parity.cpp):
  sgd            lr 0.1
  sgd_momentum   lr 0.1, momentum 0.9, weight_decay 5e-4
  sgd_nesterov   lr 0.05, momentum 0.9, nesterov, weight_decay 1e-2
  sgd_dampening  lr 0.1, momentum 0.9, dampening 0.1
  adamw          lr 1e-2, weight_decay 0.1
  adamw_betas    lr 3e-3, betas (0.8, 0.95), eps 1e-6, weight_decay 0.05
  adamw_groups   group 0 (p0, p2): lr 1e-2, wd 0.1; group 1 (p1, p3): lr 5e-3, wd 0
  lars           lr 0.5, weight_decay 1e-2, momentum 0.9 (MoCo v3's LARS)
  lars_groups    as lars, group 1 (p1, p3) with weight_decay 0

schedules.safetensors (float64), each next to the epoch values it was computed at:
  step/{epoch,lr}          MoCo v1: lr 0.03, milestones 120 160, epochs 0..199
  step_torch/lr            torch.optim.lr_scheduler.MultiStepLR, same settings
  cosine/{epoch,lr}        MoCo v2 --cos: lr 0.06, 200 epochs, per epoch
  cosine_torch/lr          torch.optim.lr_scheduler.CosineAnnealingLR(T_max 200)
  warmup_cosine/{epoch,lr} MoCo v3: lr 0.6, warmup 2 of 10 epochs, 30 iterations/epoch
  momentum/{epoch,m}       MoCo v3 --moco-m-cos: m0 0.99, 10 epochs, 30 iterations/epoch
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "optim")
torch.manual_seed(0)


class LARS(torch.optim.Optimizer):
    """moco-v3/moco/optimizer.py, verbatim in substance."""

    def __init__(self, params, lr=0, weight_decay=0, momentum=0.9, trust_coefficient=0.001):
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, trust_coefficient=trust_coefficient)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            for p in g["params"]:
                dp = p.grad
                if dp is None:
                    continue
                if p.ndim > 1:  # if not normalization gamma/beta or bias
                    dp = dp.add(p, alpha=g["weight_decay"])
                    param_norm = torch.norm(p)
                    update_norm = torch.norm(dp)
                    one = torch.ones_like(param_norm)
                    q = torch.where(param_norm > 0.,
                                    torch.where(update_norm > 0, (g["trust_coefficient"] * param_norm / update_norm),
                                                one), one)
                    dp = dp.mul(q)
                param_state = self.state[p]
                if "mu" not in param_state:
                    param_state["mu"] = torch.zeros_like(p)
                mu = param_state["mu"]
                mu.mul_(g["momentum"]).add_(dp)
                p.add_(mu, alpha=-g["lr"])


SHAPES = [(5, 4), (4,), (3, 2, 2), (6,)]


def initial_params():
    g = torch.Generator().manual_seed(1)
    ps = [torch.randn(s, generator=g) for s in SHAPES[:3]] + [torch.zeros(SHAPES[3])]
    return ps


def grads():
    g = torch.Generator().manual_seed(2)
    return [[torch.randn(s, generator=g) for s in SHAPES] for _ in range(3)]


def run(store, name, make_opt):
    params = [p.clone().requires_grad_(True) for p in initial_params()]
    opt = make_opt(params)
    for s, gs in enumerate(grads(), start=1):
        for p, g in zip(params, gs):
            p.grad = g.clone()
        opt.step()
        for i, p in enumerate(params):
            store[f"{name}/step/{s}/{i}"] = p.detach().clone()
    for i, p in enumerate(params):
        for k, v in opt.state[p].items():
            if torch.is_tensor(v) and v.dim() > 0:
                store[f"{name}/state/{i}/{k}"] = v.clone()


def gen_optim():
    s = {}
    for i, p in enumerate(initial_params()):
        s[f"init/{i}"] = p
    for step, gs in enumerate(grads(), start=1):
        for i, g in enumerate(gs):
            s[f"grad/{step}/{i}"] = g
    run(s, "sgd", lambda ps: torch.optim.SGD(ps, lr=0.1))
    run(s, "sgd_momentum", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-4))
    run(s, "sgd_nesterov", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2))
    run(s, "sgd_dampening", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1))
    run(s, "adamw", lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1))
    run(s, "adamw_betas", lambda ps: torch.optim.AdamW(ps, lr=3e-3, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.05))
    run(s, "adamw_groups", lambda ps: torch.optim.AdamW(
        [{"params": [ps[0], ps[2]], "lr": 1e-2, "weight_decay": 0.1},
         {"params": [ps[1], ps[3]], "lr": 5e-3, "weight_decay": 0.0}]))
    run(s, "lars", lambda ps: LARS(ps, lr=0.5, weight_decay=1e-2, momentum=0.9))
    run(s, "lars_groups", lambda ps: LARS(
        [{"params": [ps[0], ps[2]]}, {"params": [ps[1], ps[3]], "weight_decay": 0.0}],
        lr=0.5, weight_decay=1e-2, momentum=0.9))
    safetensors_io.save(os.path.join(OUT, "optim.safetensors"), s)


# ----------------------------------------------------------------------------- schedules
def moco_v1_v2_lr(lr, epoch, epochs, cos, schedule):
    """moco/main_moco.py adjust_learning_rate."""
    if cos:
        lr *= 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
    else:
        for milestone in schedule:
            lr *= 0.1 if epoch >= milestone else 1.0
    return lr


def moco_v3_lr(lr, epoch, warmup_epochs, epochs):
    """moco-v3/main_moco.py adjust_learning_rate."""
    if epoch < warmup_epochs:
        return lr * epoch / warmup_epochs
    return lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - warmup_epochs) / (epochs - warmup_epochs)))


def moco_v3_momentum(m0, epoch, epochs):
    """moco-v3/main_moco.py adjust_moco_momentum."""
    return 1.0 - 0.5 * (1.0 + math.cos(math.pi * epoch / epochs)) * (1.0 - m0)


def torch_sched_lrs(make, lr, n):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    sched = make(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def gen_schedules():
    d = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    s = {}
    epochs = list(range(200))
    s["step/epoch"] = d(epochs)
    s["step/lr"] = d([moco_v1_v2_lr(0.03, e, 200, False, [120, 160]) for e in epochs])
    s["step_torch/lr"] = d(torch_sched_lrs(
        lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[120, 160], gamma=0.1), 0.03, 200))
    s["cosine/epoch"] = d(epochs)
    s["cosine/lr"] = d([moco_v1_v2_lr(0.06, e, 200, True, []) for e in epochs])
    s["cosine_torch/lr"] = d(torch_sched_lrs(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=200), 0.06, 200))
    iters = 30
    its = [e + i / iters for e in range(10) for i in range(iters)]
    s["warmup_cosine/epoch"] = d(its)
    s["warmup_cosine/lr"] = d([moco_v3_lr(0.6, t, 2, 10) for t in its])
    s["momentum/epoch"] = d(its)
    s["momentum/m"] = d([moco_v3_momentum(0.99, t, 10) for t in its])
    safetensors_io.save(os.path.join(OUT, "schedules.safetensors"), s)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    gen_optim()
    gen_schedules()
    for f in sorted(os.listdir(OUT)):
        print(f"{f:28s} {os.path.getsize(os.path.join(OUT, f)):>8d} bytes")
