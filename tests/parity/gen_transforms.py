#!/usr/bin/python3
"""Parity fixtures for data/transforms.cpp, from torchvision's functional ops.

Re-run:  /usr/bin/python3 tests/parity/gen_transforms.py
Writes   tests/parity/fixtures/transforms/transforms.bin

Format (read by tests/data/test_transforms_parity.cpp), little-endian:
  "MOCOFIX1\n"
  one text line per array: "<name> <dtype> <ndim> <d0> <d1> ...\n"  (dtype f32|f64|u8)
  "END\n"
  the arrays' raw bytes, in header order.

Each case "<op>/<variant>" has "<case>/params" (f64: input id first, then the
op's parameters) and "<case>/out"; inputs are "input/<id>" (float CHW in
[0, 1], multiples of 1/255 like a decoded image). "pil/..." cases hold PIL's
uint8 HWC result of the same op on the uint8 image (the MoCo reference
pipeline works on PIL images): resampling there is fixed-point with rounding.
"""
import os
import sys

import numpy as np
import torch
import torchvision
import torchvision.transforms.functional as F
from PIL import Image, ImageEnhance

assert torchvision.__version__.startswith("0.14"), torchvision.__version__
torch.manual_seed(0)
rng = np.random.default_rng(1234)


def make_image(c, h, w):
    """Smooth colour gradients plus noise and a few hard edges, as uint8."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = []
    for k in range(c):
        v = 128 + 90 * np.sin(0.35 * x * (k + 1) / 2 + 0.6 * k) * np.cos(0.27 * y + 0.4 * k)
        v += rng.normal(0, 18, size=(h, w))
        v[(x > w * 0.6) & (y < h * 0.4)] = 30 + 100 * k  # a flat block with hard edges
        base.append(v)
    return np.clip(np.rint(np.stack(base)), 0, 255).astype(np.uint8)


inputs_u8 = {0: make_image(3, 19, 23), 1: make_image(1, 15, 17)}
inputs = {k: torch.from_numpy(v.astype(np.float32) / 255.0) for k, v in inputs_u8.items()}
arrays = []  # (name, np array)
for k in sorted(inputs):
    arrays.append((f"input/{k}", inputs[k].numpy()))


def case(name, inp, params, out):
    arrays.append((f"{name}/params", np.array([inp] + list(params), dtype=np.float64)))
    arrays.append((f"{name}/out", out.detach().numpy().astype(np.float32) if torch.is_tensor(out) else out))


# ---- geometry ----
for name, inp, (top, left, h, w), (oh, ow) in [
    ("resized_crop/down", 0, (2, 3, 15, 17), (7, 9)),
    ("resized_crop/up", 0, (4, 5, 8, 6), (16, 13)),
    ("resized_crop/mixed", 0, (0, 0, 19, 23), (24, 10)),
    ("resized_crop/gray", 1, (1, 2, 13, 14), (5, 20)),
    ("resized_crop/strong_down", 0, (0, 1, 19, 22), (3, 4)),
]:
    out = F.resized_crop(inputs[inp], top, left, h, w, [oh, ow], antialias=True)
    case(name, inp, [top, left, h, w, oh, ow, 1], out)
out = F.resize(inputs[0], [9, 30], antialias=False)
case("resized_crop/no_antialias", 0, [0, 0, 19, 23, 9, 30, 0], out)
for name, inp, size in [("resize_short/a", 0, 12), ("resize_short/b", 1, 40)]:
    case(name, inp, [size], F.resize(inputs[inp], size, antialias=True))
for name, inp, (h, w) in [("center_crop/in", 0, (11, 13)), ("center_crop/pad", 0, (21, 26)),
                          ("center_crop/gray", 1, (14, 9))]:
    case(name, inp, [h, w], F.center_crop(inputs[inp], [h, w]))
case("hflip/a", 0, [], F.hflip(inputs[0]))

# ---- colour ----
for name, inp, f in [("brightness/a", 0, 1.3), ("brightness/b", 0, 0.6)]:
    case(name, inp, [f], F.adjust_brightness(inputs[inp], f))
for name, inp, f in [("contrast/a", 0, 0.7), ("contrast/b", 0, 1.35), ("contrast/gray", 1, 1.6)]:
    case(name, inp, [f], F.adjust_contrast(inputs[inp], f))
for name, inp, f in [("saturation/a", 0, 0.5), ("saturation/b", 0, 1.4), ("saturation/zero", 0, 0.0)]:
    case(name, inp, [f], F.adjust_saturation(inputs[inp], f))
for name, inp, f in [("hue/a", 0, 0.08), ("hue/b", 0, -0.1), ("hue/c", 0, 0.5), ("hue/d", 0, -0.5),
                     ("hue/gray", 1, 0.3)]:
    case(name, inp, [f], F.adjust_hue(inputs[inp], f))
case("grayscale/a", 0, [], F.rgb_to_grayscale(inputs[0], num_output_channels=3))
for name, inp, k, s in [("blur/a", 0, 5, 1.1), ("blur/b", 0, 3, 0.4), ("blur/c", 0, 9, 2.0),
                        ("blur/gray", 1, 7, 1.5)]:
    case(name, inp, [k, s], F.gaussian_blur(inputs[inp], [k, k], [s, s]))
case("solarize/a", 0, [0.5], F.solarize(inputs[0], 0.5))
mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
case("normalize/a", 0, mean + std, F.normalize(inputs[0], mean, std))

# ---- a whole MoCo v2 view with fixed parameters ----
# crop box, jitter order (b, c, s, h as 0..3), factors, grayscale flag, blur k/sigma, flip
chain = dict(box=(3, 2, 14, 18), size=16, order=[2, 0, 3, 1], b=1.21, c=0.77, s=1.33, h=-0.07, gray=0,
             k=3, sigma=0.9, flip=1)
x = F.resized_crop(inputs[0], *chain["box"], [chain["size"]] * 2, antialias=True)
for op in chain["order"]:
    x = [lambda t: F.adjust_brightness(t, chain["b"]), lambda t: F.adjust_contrast(t, chain["c"]),
         lambda t: F.adjust_saturation(t, chain["s"]), lambda t: F.adjust_hue(t, chain["h"])][op](x)
x = F.gaussian_blur(x, [chain["k"]] * 2, [chain["sigma"]] * 2)
x = F.hflip(x)
x = F.normalize(x, mean, std)
case("chain/v2", 0, list(chain["box"]) + [chain["size"]] + chain["order"] +
     [chain["b"], chain["c"], chain["s"], chain["h"], chain["k"], chain["sigma"]], x)

# ---- PIL (uint8) references for the MoCo pipeline's own path ----
pil = Image.fromarray(np.transpose(inputs_u8[0], (1, 2, 0)))
for name, (top, left, h, w), (oh, ow) in [("pil/resized_crop_down", (2, 3, 15, 17), (7, 9)),
                                         ("pil/resized_crop_up", (4, 5, 8, 6), (16, 13))]:
    out = np.asarray(F.resized_crop(pil, top, left, h, w, [oh, ow]))  # PIL bilinear (antialiased)
    case(name, 0, [top, left, h, w, oh, ow, 1], out.astype(np.uint8))
case("pil/brightness", 0, [1.3], np.asarray(ImageEnhance.Brightness(pil).enhance(1.3)).astype(np.uint8))
case("pil/saturation", 0, [0.5], np.asarray(ImageEnhance.Color(pil).enhance(0.5)).astype(np.uint8))
case("pil/contrast", 0, [0.7], np.asarray(ImageEnhance.Contrast(pil).enhance(0.7)).astype(np.uint8))

# ---- write ----
out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "transforms")
os.makedirs(out_dir, exist_ok=True)
path = os.path.join(out_dir, "transforms.bin")
codes = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64", np.dtype(np.uint8): "u8"}
with open(path, "wb") as f:
    f.write(b"MOCOFIX1\n")
    for name, a in arrays:
        f.write(f"{name} {codes[a.dtype]} {a.ndim} {' '.join(str(d) for d in a.shape)}\n".encode())
    f.write(b"END\n")
    for _, a in arrays:
        f.write(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes())
print(f"wrote {path}: {len(arrays)} arrays, {os.path.getsize(path)} bytes", file=sys.stderr)
