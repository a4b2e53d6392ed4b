#!/usr/bin/env python3
"""PyTorch side of bench/ops_bench.cpp: the same ops, shapes and timing rule
(best of REPS after one warm-up; forward under no_grad, then forward +
backward with a given output gradient). Threads: torch.set_num_threads(1)
unless OMP_NUM_THREADS says otherwise.

Usage: ops_bench_torch.py [REPS=20] [OP ...]; prints "<op> <fwd|fwd+bwd> <ms>".
"""
import os
import sys
import time

import torch
import torch.nn.functional as F


def best_ms(reps, f):
    f()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        best = min(best, (time.perf_counter() - t0) * 1e3)
    return best


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    only = sys.argv[2:]
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    torch.manual_seed(1)
    tokens = 64 * 65
    ln_w = torch.randn(192, requires_grad=True)
    ln_b = torch.randn(192, requires_grad=True)
    res = torch.randn(64, 64, 32, 32)
    cases = [
        ("relu", (64, 64, 32, 32), F.relu),
        ("gelu", (tokens, 768), F.gelu),
        ("layer_norm", (tokens, 192), lambda x: F.layer_norm(x, (192,), ln_w, ln_b, 1e-6)),
        ("add", (64, 64, 32, 32), lambda x: x + res),
        ("softmax", (64 * 3, 65, 65), lambda x: torch.softmax(x, -1)),
    ]
    for name, shape, f in cases:
        if only and name not in only:
            continue
        x = torch.randn(*shape)
        g = torch.randn(*shape)

        def fwd():
            with torch.no_grad():
                f(x)

        def fwd_bwd():
            y = f(xg)
            y.backward(g)
            xg.grad = None
            ln_w.grad = None
            ln_b.grad = None

        t_f = best_ms(reps, fwd)
        xg = x.clone().requires_grad_()
        t_fb = best_ms(reps, fwd_bwd)
        print(f"{name} fwd {t_f:.3f}\n{name} fwd+bwd {t_fb:.3f}", flush=True)


if __name__ == "__main__":
    main()
