#!/usr/bin/python3
"""Summarises bench/train_step_bench.sh's JSON lines: per model, batch and
OpenBLAS setting, moco.cpp's images/s beside PyTorch's best (over its thread
settings; same for ours), the ratio (ours / PyTorch; > 1 means we are faster), the process CPU
seconds per step of the same two runs (all threads; on a shared machine less
disturbed by other jobs than wall time) and peak RSS.
Usage: train_step_table.py RESULTS.jsonl"""
import json
import sys

def cpu(r):
    return f"{r['cpu_sec_per_step']:.2f}" if "cpu_sec_per_step" in r else "-"


rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
keys = []
for r in rows:
    k = (r["model"], r["batch"], r["blas"])
    if k not in keys:
        keys.append(k)
print("| model | batch | OpenBLAS | moco.cpp img/s (threads) | PyTorch img/s (threads) | ratio | "
      "CPU s/step moco.cpp / PyTorch | moco.cpp RSS MiB | PyTorch RSS MiB |")
print("|---|---|---|---|---|---|---|---|---|")
for k in keys:
    ours = [r for r in rows if (r["model"], r["batch"], r["blas"]) == k and r["impl"] == "moco.cpp"]
    torch = [r for r in rows if (r["model"], r["batch"], r["blas"]) == k and r["impl"] == "pytorch"]
    if not ours or not torch:
        continue
    o = max(ours, key=lambda r: r["images_per_sec"])
    t = max(torch, key=lambda r: r["images_per_sec"])
    print(f"| {k[0]} | {k[1]} | {k[2]} | {o['images_per_sec']:.2f} ({o['threads']}) | {t['images_per_sec']:.2f} ({t['threads']}) | "
          f"{o['images_per_sec'] / t['images_per_sec']:.2f} | {cpu(o)} / {cpu(t)} | {o['peak_rss_mib']:.0f} | "
          f"{t['peak_rss_mib']:.0f} |")
