#!/usr/bin/env python3
"""Largest difference between the float32 tensors of two runs' checkpoints (plain Python, no numpy).

Usage: compare_checkpoints.py RUN_A RUN_B TOLERANCE   (prints OK or FAILED with the figure; exit 0 / 1)
tools/gpu-check.sh uses it to compare a data-parallel run on several GPUs with one GPU."""
import json
import struct
import sys
from array import array


def load(run):
    data = open(run + "/checkpoint.safetensors", "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header, body = json.loads(data[8:8 + n]), data[8 + n:]
    return {k: array("f", body[v["data_offsets"][0]:v["data_offsets"][1]])
            for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32"}


a, b, tol = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
if a.keys() != b.keys():
    print(f"FAILED: the checkpoints hold different tensors ({len(a)} and {len(b)})")
    sys.exit(1)
worst = max((max((abs(x - y) for x, y in zip(a[k], b[k])), default=0.0) for k in a), default=0.0)
print(f"{'OK' if worst <= tol else 'FAILED'}: largest weight difference {worst:.2e} (tolerance {tol:g})")
sys.exit(0 if worst <= tol else 1)
