#!/usr/bin/python3
"""Writes the seed corpus of the fuzz targets: fuzz/corpus/TARGET/seed_*.

Small valid inputs of every format a target reads (so the fuzzer starts from
inside each parser) and a few broken ones (truncated, wrong magic). Needs
PIL (python3-pil) for JPEG. Re-run: /usr/bin/python3 fuzz/make_corpus.py
"""
import gzip
import io
import json
import os
import struct
import zlib

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed_" + name), "wb") as f:
        f.write(data)


def pil_bytes(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


# image: each format decode_image reads, small, some with alpha; two broken.
rgb = Image.new("RGB", (5, 4))
rgb.putdata([(x * 50, y * 60, (x + y) * 20) for y in range(4) for x in range(5)])
put("image", "rgb.png", pil_bytes(rgb, "PNG"))
put("image", "rgba.png", pil_bytes(rgb.convert("RGBA"), "PNG"))
put("image", "gray.png", pil_bytes(rgb.convert("L"), "PNG"))
put("image", "rgb.jpg", pil_bytes(rgb, "JPEG", quality=90))
put("image", "gray.jpg", pil_bytes(rgb.convert("L"), "JPEG"))
put("image", "rgb.bmp", pil_bytes(rgb, "BMP"))
put("image", "rgb.ppm", pil_bytes(rgb, "PPM"))
put("image", "gray.pgm", pil_bytes(rgb.convert("L"), "PPM"))
put("image", "rgb.gif", pil_bytes(rgb.convert("P"), "GIF"))
put("image", "rgb.tga", pil_bytes(rgb, "TGA"))  # starts with 0: the target names it .tga
put("image", "cut.png", pil_bytes(rgb, "PNG")[:40])
put("image", "cut.ppm", b"P6\n64 64\n255\n" + bytes(30))


# idx, stl10: two files in one input, the first's length in 4 bytes before
# them (fuzz/targets.cpp put_two).
def pair(a, b):
    return struct.pack("<I", len(a)) + a + b


def idx_files(n, h, w):
    images = struct.pack(">IIII", 0x803, n, h, w) + bytes((i * 37) % 256 for i in range(n * h * w))
    labels = struct.pack(">II", 0x801, n) + bytes(i % 3 for i in range(n))
    return images, labels


images, labels = idx_files(3, 4, 4)
put("idx", "three_4x4", pair(images, labels))
put("idx", "three_4x4_gzip", pair(gzip.compress(images, mtime=0), labels))
put("idx", "truncated", pair(images[:30], labels))
put("idx", "bad_magic", pair(b"\x00\x00\x08\x04" + images[4:], labels))

# cifar: records of 1 label byte + 3x32x32 pixels.
rec = bytes([3]) + bytes((i * 7) % 256 for i in range(3072))
put("cifar", "two_records", rec + bytes([9]) + rec[1:])
put("cifar", "half_record", rec[:1000])

# stl10: train_X.bin (3x96x96 a record) and train_y.bin (labels 1..10).
x = bytes((i * 11) % 256 for i in range(2 * 3 * 96 * 96))
put("stl10", "two_images", pair(x, bytes([1, 10])))
put("stl10", "label_zero", pair(x, bytes([0, 11])))

# safetensors: a header, then the bytes.
def st(tensors, meta=None):
    header, data = {}, b""
    if meta:
        header["__metadata__"] = meta
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


put("safetensors", "two", st({"w": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
                              "n": ("I64", [1], struct.pack("<q", 7))}, {"epoch": "3"}))
put("safetensors", "f64", st({"x": ("F64", [3], struct.pack("<3d", 0.5, -1, 2))}))
put("safetensors", "truncated", st({"w": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4))})[:-5])
dup = b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
put("safetensors", "duplicate", struct.pack("<Q", len(dup)) + dup + bytes(4))  # a name twice: refused

# json: a run folder's config.json (format 2 as write_run_config writes it,
# and the flat format 1) and metrics.jsonl rows (json_line's spelling).
put("json", "config", json.dumps({"command": "moco pretrain --epochs 3", "epochs": "3", "lr": "0.06"}).encode())
put("json", "config_v2", json.dumps({"format": 2, "kind": "pretrain", "command": "moco pretrain --epochs 3",
                                     "started": "2026-11-29T11:30:00Z", "moco_version": "0.1.0", "commit": "83b770f",
                                     "flags": {"epochs": 3, "lr": 0.06, "cos": True, "dataset": "mnist"},
                                     "machine": {"threads": 2, "device": "cpu"}}, indent=2).encode() + b"\n")
put("json", "metrics_row", b'{"epoch": 1, "step": 375, "lr": 0.06, "loss": 5.000305132548014, "knn_top1": 63.4}\n')
put("json", "metrics_rows", b'{"epoch": 1, "loss": 5.0}\n\n{"epoch": 2, "loss": 4.5, "inst_top1": 1e-05}\n')
put("json", "nested", b'{"a": [1, 2.5e-3, -4, true, false, null, "x\\u00e9\\n"], "b": {"c": {}}}')
put("json", "unterminated", b'{"a": [1, 2')
print("wrote", os.path.join(HERE, "corpus"))
