#!/usr/bin/python3
"""Makes the data bench/data_bench.sh reads: a CIFAR-10-format binary folder
(32x32 RGB) and an ImageFolder of ImageNet-sized JPEGs (500x375, quality 90),
with smooth, varied content so JPEG decoding costs what it does on photos.
Usage: data_bench_make.py OUT_DIR [n32 n224]"""
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

out = sys.argv[1]
n32 = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
n224 = int(sys.argv[3]) if len(sys.argv) > 3 else 400
rng = np.random.default_rng(0)


def picture(w, h):
    im = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(0, 255, 3)))
    d = ImageDraw.Draw(im)
    for _ in range(25):
        x, y, r = rng.integers(0, w), rng.integers(0, h), rng.integers(w // 30 + 1, w // 5 + 2)
        d.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    im = im.filter(ImageFilter.GaussianBlur(1.5))
    a = np.asarray(im).astype(np.int16) + rng.integers(-12, 13, size=(h, w, 3))  # sensor-like noise
    return np.clip(a, 0, 255).astype(np.uint8)


cifar = os.path.join(out, "cifar-10-batches-bin")
os.makedirs(cifar, exist_ok=True)
per = n32 // 5
for b in range(1, 6):
    recs = np.zeros((per, 3073), np.uint8)
    for i in range(per):
        recs[i, 0] = i % 10
        recs[i, 1:] = picture(32, 32).transpose(2, 0, 1).reshape(-1)
    recs.tofile(os.path.join(cifar, f"data_batch_{b}.bin"))
recs[:100].tofile(os.path.join(cifar, "test_batch.bin"))

folder = os.path.join(out, "jpeg")
for i in range(n224):
    d = os.path.join(folder, f"class{i % 10}")
    os.makedirs(d, exist_ok=True)
    Image.fromarray(picture(500, 375)).save(os.path.join(d, f"{i:05d}.jpg"), quality=90)
print(f"made {per * 5} CIFAR-format images in {cifar} and {n224} JPEGs in {folder}")
