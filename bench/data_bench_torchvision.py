#!/usr/bin/python3
"""torchvision's side of bench/data_bench.sh: the MoCo v2 (aug-plus) two-view
pipeline through torch.utils.data.DataLoader, with the same transforms as
moco.cpp's preset (same crop scale, jitter, grayscale, blur kernel size and
sigma range, flip, normalisation), on the same files.

Prints one line: bench-data impl=torchvision ... images_per_s=N
(a sample = one source image and its two views, as `moco bench-data`).
"""
import argparse
import glob
import os
import resource
import time

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import datasets, transforms


class CifarBinary(torch.utils.data.Dataset):
    """CIFAR-10 binary batches held in memory, served as PIL images (as torchvision's CIFAR10 does)."""

    def __init__(self, folder):
        files = sorted(glob.glob(os.path.join(folder, "data_batch_*.bin")))
        raw = np.concatenate([np.fromfile(f, dtype=np.uint8).reshape(-1, 3073) for f in files])
        self.labels = raw[:, 0].astype(np.int64)
        self.data = raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return Image.fromarray(self.data[i]), int(self.labels[i])


class TwoCrops:
    def __init__(self, t):
        self.t = t

    def __call__(self, x):
        return [self.t(x), self.t(x)]


class Wrapped(torch.utils.data.Dataset):
    def __init__(self, base, transform):
        self.base, self.transform = base, transform

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        x, y = self.base[i]
        return self.transform(x), y


class PilGaussianBlur:
    """moco/loader.py's GaussianBlur (the reference code's): PIL's ImageFilter with radius = sigma."""

    def __init__(self, sigma):
        self.sigma = sigma

    def __call__(self, x):
        from PIL import ImageFilter
        import random
        return x.filter(ImageFilter.GaussianBlur(radius=random.uniform(self.sigma[0], self.sigma[1])))


def blur_kernel(size):  # moco.cpp's default_blur_kernel
    k = int(0.1 * size)
    k += 1 if k % 2 == 0 else 0
    return max(k, 3)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--format", choices=["cifar", "folder"], required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--blur", choices=["torchvision", "pil"], default="torchvision",
                   help="torchvision's GaussianBlur (same kernel as moco.cpp) or MoCo's PIL blur (reference code)")
    a = p.parse_args()

    f = min(1.0, a.size / 224)
    if a.format == "cifar":
        base = CifarBinary(a.dir)
        mean, std = [0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]
    else:
        base = datasets.ImageFolder(a.dir)  # PIL loader, RGB
        mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    aug = transforms.Compose([
        transforms.RandomResizedCrop(a.size, scale=(0.2, 1.0)),
        transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        transforms.RandomGrayscale(p=0.2),
        transforms.RandomApply([transforms.GaussianBlur(blur_kernel(a.size), sigma=(0.1 * f, 2.0 * f))
                                if a.blur == "torchvision" else PilGaussianBlur((0.1 * f, 2.0 * f))], p=0.5),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(mean, std),
    ])
    ds = Wrapped(base, TwoCrops(aug))
    dl = torch.utils.data.DataLoader(ds, batch_size=a.batch, shuffle=True, num_workers=a.workers, drop_last=True,
                                     persistent_workers=a.workers > 0, prefetch_factor=2 if a.workers > 0 else None)
    it = iter(dl)

    def take():
        nonlocal it
        try:
            return next(it)
        except StopIteration:
            it = iter(dl)
            return next(it)

    def cpu_seconds():  # this process + the loader's worker processes, user + system
        total = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        for w in getattr(it, "_workers", []):
            with open(f"/proc/{w.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    for _ in range(a.warmup):
        take()
    c0 = cpu_seconds()
    n, batches, t0 = 0, 0, time.perf_counter()
    dt = 0.0
    while dt < a.seconds:
        views, labels = take()
        n += labels.shape[0]
        batches += 1
        dt = time.perf_counter() - t0
    cpu = cpu_seconds() - c0
    print(f"bench-data impl=torchvision blur={a.blur} dataset={a.format}:{a.dir} preset=v2 size={a.size} workers={a.workers} "
          f"batch={a.batch} batches={batches} seconds={dt:.2f} images_per_s={n / dt:.1f} cpu_ms_per_image={1e3 * cpu / n:.3f} "
          f"(torch {torch.__version__}, torchvision {torchvision.__version__})")


if __name__ == "__main__":
    main()
