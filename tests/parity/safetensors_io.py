"""Minimal safetensors reader/writer (Debian has no python3-safetensors).

The format (huggingface/safetensors): 8-byte little-endian header length N,
N bytes of JSON {name: {"dtype", "shape", "data_offsets": [begin, end]},
"__metadata__": {str: str}}, padded with spaces to a multiple of 8, then the
raw little-endian tensor bytes. Written by hand with json + struct so the
fixture generators and checks need only numpy and torch.
"""
import json
import os
import struct

import numpy as np

_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "F16": np.float16,
           "I32": np.int32, "U8": np.uint8, "I8": np.int8, "BOOL": np.bool_}
_NAMES = {np.dtype(v).str: k for k, v in _DTYPES.items()}


def _to_numpy(t):
    if hasattr(t, "detach"):  # torch.Tensor
        t = t.detach().cpu().contiguous().numpy()
    a = np.asarray(t)  # keeps 0-d arrays 0-d (np.ascontiguousarray would make them 1-d)
    return a if a.flags.c_contiguous else a.copy(order="C")


def encode(tensors, metadata=None):
    """tensors: dict name -> numpy array or torch tensor (order kept)."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        a = _to_numpy(t)
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        key = _NAMES.get(a.dtype.str)
        if key is None:
            raise ValueError(f"safetensors: unsupported dtype {a.dtype} for {name}")
        b = a.tobytes()
        header[name] = {"dtype": key, "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def save(path, tensors, metadata=None):
    data = encode(tensors, metadata)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def load(path, with_metadata=False):
    """Returns dict name -> numpy array (header order), and the metadata if asked."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        dt = np.dtype(_DTYPES[e["dtype"]]).newbyteorder("<")
        a = np.frombuffer(data[base + b:base + end], dtype=dt).reshape(e["shape"])
        out[name] = a.copy()
    return (out, meta) if with_metadata else out
