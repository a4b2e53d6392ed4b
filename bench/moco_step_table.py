#!/usr/bin/python3
"""Summarises bench/moco_step_bench.sh's JSON lines.

First table: one row per method, batch, OpenBLAS setting and thread count,
moco.cpp beside the PyTorch reference: images/s (image pairs for MoCo), the
ratio (ours / PyTorch; > 1 means we are faster), process CPU seconds per step
(ours; the reference does not measure it), peak RSS of each side, and the
trainable parameter counts (they differ only if the two sides do not build
the same model). When a file holds several runs of one row (repeated
invocations), the median of their images/s and of their RSS is shown.
Second table: each side at its best over the OpenBLAS settings and threads.

Usage: moco_step_table.py RESULTS.jsonl"""
import json
import statistics
import sys


def key(r):
    return (r["method"], r["batch"], r["blas"], r["threads"])


def med(rows, field):
    vals = [r[field] for r in rows if r.get(field) is not None]
    return statistics.median(vals) if vals else None


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    keys = []
    for r in rows:
        if key(r) not in keys:
            keys.append(key(r))
    print("| method | batch | OpenBLAS | threads | moco.cpp img/s | PyTorch img/s | ratio | moco.cpp CPU s/step | "
          "moco.cpp RSS MiB | PyTorch RSS MiB | params moco.cpp / PyTorch | runs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    best = {}
    for k in keys:
        ours = [r for r in rows if key(r) == k and r["impl"] == "moco.cpp"]
        theirs = [r for r in rows if key(r) == k and r["impl"] == "pytorch"]
        o, t = med(ours, "images_per_sec"), med(theirs, "images_per_sec")
        ratio = o / t if o and t else None
        po = ours[-1]["trainable_params"] if ours else None
        pt = theirs[-1]["trainable_params"] if theirs else None
        params = f"{fmt(po, 'd')} / {fmt(pt, 'd')}" + (" (differ!)" if po and pt and po != pt else "")
        print(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {fmt(o, '.2f')} | {fmt(t, '.2f')} | {fmt(ratio, '.2f')} | "
              f"{fmt(med(ours, 'cpu_sec_per_step'), '.2f')} | {fmt(med(ours, 'peak_rss_mib'), '.0f')} | "
              f"{fmt(med(theirs, 'peak_rss_mib'), '.0f')} | {params} | {len(ours)} / {len(theirs)} |")
        b = best.setdefault((k[0], k[1]), {})
        for impl, v in (("moco.cpp", o), ("pytorch", t)):
            if v is not None and (impl not in b or v > b[impl][0]):
                b[impl] = (v, f"{k[2]}, {k[3]} thr")
    print()
    print("| method | batch | moco.cpp best img/s (setting) | PyTorch best img/s (setting) | ratio |")
    print("|---|---|---|---|---|")
    for (method, batch), b in best.items():
        o, t = b.get("moco.cpp"), b.get("pytorch")
        ratio = o[0] / t[0] if o and t else None
        print(f"| {method} | {batch} | {fmt(o and o[0], '.2f')} ({o[1] if o else '-'}) | "
              f"{fmt(t and t[0], '.2f')} ({t[1] if t else '-'}) | {fmt(ratio, '.2f')} |")


if __name__ == "__main__":
    main()
