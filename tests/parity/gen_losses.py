#!/usr/bin/python3
"""Parity fixture for the loss ops (autograd/ops_loss.cpp), from PyTorch.

Re-run:  /usr/bin/python3 tests/parity/gen_losses.py
Writes   tests/parity/fixtures/nn/cross_entropy.safetensors

float64 logits [6, 5] and int64 targets [6]; for each label smoothing
s in {0, 0.1, 0.3}: "ls<s>/loss" (torch.nn.functional.cross_entropy's mean
loss) and "ls<s>/grad" (its gradient with respect to the logits).
A gradcheck cannot catch a forward + backward that agree with each other but
not with PyTorch (smoothing summed over classes instead of averaged); this can.
"""
import os

import torch
import torch.nn.functional as F

import safetensors_io

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "nn", "cross_entropy.safetensors")

torch.manual_seed(0)
logits = (torch.randn(6, 5, dtype=torch.float64) * 2).requires_grad_()
target = torch.tensor([0, 4, 2, 2, 1, 3], dtype=torch.int64)
out = {"logits": logits.detach().clone(), "target": target}
for s, name in ((0.0, "0"), (0.1, "0.1"), (0.3, "0.3")):
    logits.grad = None
    loss = F.cross_entropy(logits, target, label_smoothing=s)
    loss.backward()
    out[f"ls{name}/loss"] = loss.detach().reshape(())
    out[f"ls{name}/grad"] = logits.grad.detach().clone()
os.makedirs(os.path.dirname(OUT), exist_ok=True)
safetensors_io.save(OUT, out)
print("wrote", OUT)
