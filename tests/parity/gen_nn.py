#!/usr/bin/python3
"""Parity fixtures for nn/ (layers, ResNet, ViT, checkpoints), from PyTorch.

Re-run:  /usr/bin/python3 tests/parity/gen_nn.py
Writes   tests/parity/fixtures/nn/
  layers.safetensors         every layer, forward + backward, train and eval
  resnet18_w16.safetensors   ResNet-18 (small stem, width 16): input, output, every gradient
  resnet50_w4.safetensors    ResNet-50 (width 4): output, input gradient, some parameter gradients
  vit_mini.safetensors       MoCo v3 ViT (16 px, patch 4, dim 48, depth 2): weights, output, gradients
  resnet18_w4_torch.safetensors  a state dict written by PyTorch (torchvision names), plus an
                             input and the eval-mode output (the "PyTorch checkpoint loads" test)
  names.txt                  name, dtype and shape of every state-dict tensor of the real
                             torchvision resnet18/34/50 and the MoCo v3 vit_small/vit_tiny
Check:   /usr/bin/python3 tests/parity/gen_nn.py --check FILE
  loads FILE, a ResNet-18 checkpoint written by moco.cpp (width 64: into
  torchvision.models.resnet18 itself; width 4: into the fixture's model, and
  compares its output), with load_state_dict(strict=True).

References are computed in float64 from float32-representable inputs and
weights, then stored as float32: the fixture holds the exact answer, and the
tests measure only our float32 error.

Naming inside layers.safetensors, per case C:
  C/x, C/w (loss weights: loss = sum(y * w)), C/y, C/dx,
  C/state/<name>        parameters and buffers before the forward (a state dict),
  C/grad/<name>         parameter gradients,
  C/state_after/<name>  buffers after the forward (BatchNorm running statistics).
Model weights of resnet18_w16 / resnet50_w4 are not stored: both sides fill
them with formula_init() below (tests/nn/formula_init.h is its C++ twin).
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

assert torchvision.__version__.startswith("0.14"), torchvision.__version__
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "nn")
torch.manual_seed(0)


# ----------------------------------------------------------------------------- formula weights
def fnv1a64(s):
    h = 0xCBF29CE484222325
    for c in s.encode():
        h = ((h ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def splitmix_uniform(seed, n):
    """u_i in [-1, 1) from splitmix64(seed + i), i < n (float64)."""
    z = (np.uint64(seed) + np.arange(n, dtype=np.uint64)) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (2.0 ** -53) * 2.0 - 1.0


def formula_value(name, shape):
    """The deterministic value of a state-dict tensor (float32), from its name."""
    n = int(np.prod(shape)) if len(shape) else 1
    u = splitmix_uniform(fnv1a64(name), n)
    if name.endswith("running_var"):
        v = 1.0 + 0.5 * u
    elif name.endswith("running_mean"):
        v = 0.1 * u
    elif len(shape) >= 2:
        fan_in = int(np.prod(shape[1:]))
        v = u * math.sqrt(3.0 / fan_in)
    elif name.endswith("weight"):
        v = 1.0 + 0.2 * u
    else:
        v = 0.1 * u
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def formula_init(model):
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.dtype == torch.int64:
                t.zero_()
            else:
                t.copy_(formula_value(name, tuple(t.shape)))


# ----------------------------------------------------------------------------- models
class WidthResNet(ResNet):
    """torchvision's ResNet with the base width, input channels and the
    small-image stem as parameters (same module names as torchvision)."""

    def __init__(self, block, layers, width=64, num_classes=1000, in_ch=3, small_stem=False):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation, self.groups, self.base_width = width, 1, 1, 64
        if small_stem:
            self.conv1 = nn.Conv2d(in_ch, width, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_ch, width, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


# timm (0.4.x, as MoCo v3 uses it) ViT pieces, written out: timm is not packaged in Debian.
class Attention(nn.Module):
    def __init__(self, dim, num_heads, qkv_bias=True):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio=4.0, qkv_bias=True):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, img_size, patch_size, in_chans, embed_dim):
        super().__init__()
        self.grid_size = (img_size // patch_size, img_size // patch_size)
        self.patch_size = (patch_size, patch_size)
        self.proj = nn.Conv2d(in_chans, embed_dim, patch_size, patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


def moco_v3_sincos(grid_size, embed_dim, temperature=10000.0):
    """build_2d_sincos_position_embedding of moco-v3/vits.py, verbatim in substance."""
    h, w = grid_size
    grid_w = torch.arange(w, dtype=torch.float32)
    grid_h = torch.arange(h, dtype=torch.float32)
    grid_w, grid_h = torch.meshgrid(grid_w, grid_h, indexing="ij")
    pos_dim = embed_dim // 4
    omega = torch.arange(pos_dim, dtype=torch.float32) / pos_dim
    omega = 1.0 / (temperature ** omega)
    out_w = torch.einsum("m,d->md", [grid_w.flatten(), omega])
    out_h = torch.einsum("m,d->md", [grid_h.flatten(), omega])
    pos_emb = torch.cat([torch.sin(out_w), torch.cos(out_w), torch.sin(out_h), torch.cos(out_h)], dim=1)[None, :, :]
    pe_token = torch.zeros([1, 1, embed_dim], dtype=torch.float32)
    return torch.cat([pe_token, pos_emb], dim=1)


class VisionTransformerMoCo(nn.Module):
    """timm's VisionTransformer with MoCo v3's changes (vits.py): fixed 2-D
    sin-cos position embedding, its initialisation, optional stop_grad_conv1."""

    def __init__(self, img_size=224, patch_size=16, in_chans=3, num_classes=1000, embed_dim=768, depth=12,
                 num_heads=12, mlp_ratio=4.0, qkv_bias=True, stop_grad_conv1=False):
        super().__init__()
        self.embed_dim = embed_dim
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(moco_v3_sincos(self.patch_embed.grid_size, embed_dim))
        self.pos_embed.requires_grad = False
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads, mlp_ratio, qkv_bias) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        for name, m in self.named_modules():
            if isinstance(m, nn.Linear):
                if "qkv" in name:
                    val = math.sqrt(6.0 / float(m.weight.shape[0] // 3 + m.weight.shape[1]))
                    nn.init.uniform_(m.weight, -val, val)
                else:
                    nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.cls_token, std=1e-6)
        val = math.sqrt(6.0 / float(3 * patch_size * patch_size + embed_dim))
        nn.init.uniform_(self.patch_embed.proj.weight, -val, val)
        nn.init.zeros_(self.patch_embed.proj.bias)
        if stop_grad_conv1:
            self.patch_embed.proj.weight.requires_grad = False
            self.patch_embed.proj.bias.requires_grad = False

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def build_mlp_v3(num_layers, input_dim, mlp_dim, output_dim, last_bn=True):
    """moco-v3/moco/builder.py MoCo._build_mlp."""
    mlp = []
    for l in range(num_layers):
        dim1 = input_dim if l == 0 else mlp_dim
        dim2 = output_dim if l == num_layers - 1 else mlp_dim
        mlp.append(nn.Linear(dim1, dim2, bias=False))
        if l < num_layers - 1:
            mlp.append(nn.BatchNorm1d(dim2))
            mlp.append(nn.ReLU(inplace=True))
        elif last_bn:
            mlp.append(nn.BatchNorm1d(dim2, affine=False))
    return nn.Sequential(*mlp)


# ----------------------------------------------------------------------------- helpers
def f32(t):
    return t.detach().to(torch.float32).contiguous()


def randomize(module):
    """Non-trivial affine parameters and running statistics for norm layers."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)):
                if getattr(m, "weight", None) is not None:
                    m.weight.copy_(1 + 0.3 * torch.randn_like(m.weight))
                    m.bias.copy_(0.2 * torch.randn_like(m.bias))
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.running_mean is not None:
                m.running_mean.copy_(0.2 * torch.randn_like(m.running_mean))
                m.running_var.copy_(0.5 + torch.rand_like(m.running_var))
                m.num_batches_tracked.fill_(3)


def run_case(store, name, module, x, train=True):
    """Forward + backward of `module` on float32 x, computed in float64."""
    state = {k: f32(v) if v.is_floating_point() else v.clone() for k, v in module.state_dict().items()}
    m = module.double().train(train)
    x64 = x.double().requires_grad_(True)
    y = m(x64)
    w = torch.randn(y.shape).double()
    (y * w).sum().backward()
    store[f"{name}/x"] = f32(x)
    store[f"{name}/w"] = f32(w)
    store[f"{name}/y"] = f32(y)
    store[f"{name}/dx"] = f32(x64.grad)
    for k, v in state.items():
        store[f"{name}/state/{k}"] = v
    for k, p in m.named_parameters():
        if p.grad is not None:
            store[f"{name}/grad/{k}"] = f32(p.grad)
    for k, b in m.named_buffers():
        store[f"{name}/state_after/{k}"] = f32(b) if b.is_floating_point() else b.clone()


def away_from_zero(x, margin=0.05):
    return torch.where(x.abs() < margin, torch.sign(x + 1e-12) * 2 * margin, x)


# ----------------------------------------------------------------------------- layers
def gen_layers():
    s = {}
    run_case(s, "linear", nn.Linear(7, 5), torch.randn(3, 7))
    run_case(s, "linear_3d", nn.Linear(7, 5), torch.randn(2, 3, 7))
    run_case(s, "linear_nobias", nn.Linear(6, 4, bias=False), torch.randn(4, 6))
    run_case(s, "conv", nn.Conv2d(3, 4, 3, stride=2, padding=1), torch.randn(2, 3, 9, 9))
    run_case(s, "conv_1x1_nobias", nn.Conv2d(4, 6, 1, bias=False), torch.randn(2, 4, 5, 5))
    run_case(s, "conv_groups", nn.Conv2d(4, 6, 3, padding=1, groups=2), torch.randn(2, 4, 6, 6))
    run_case(s, "conv_7x7_s2", nn.Conv2d(3, 4, 7, stride=2, padding=3, bias=False), torch.randn(2, 3, 12, 12))
    for train in (True, False):
        tag = "train" if train else "eval"
        bn = nn.BatchNorm2d(4)
        randomize(bn)
        run_case(s, f"bn2d_{tag}", bn, torch.randn(3, 4, 5, 5) * 2 + 0.5, train)
        bn = nn.BatchNorm2d(4, affine=False)
        randomize(bn)
        run_case(s, f"bn2d_noaffine_{tag}", bn, torch.randn(3, 4, 5, 5), train)
        bn = nn.BatchNorm1d(6)
        randomize(bn)
        run_case(s, f"bn1d_{tag}", bn, torch.randn(8, 6) * 3 - 1, train)
        bn = nn.BatchNorm1d(6)
        randomize(bn)
        run_case(s, f"bn1d_3d_{tag}", bn, torch.randn(4, 6, 5), train)
        run_case(s, f"bn1d_notrack_{tag}", nn.BatchNorm1d(6, track_running_stats=False), torch.randn(8, 6), train)
    ln = nn.LayerNorm(8, eps=1e-6)
    randomize(ln)
    run_case(s, "layernorm", ln, torch.randn(2, 3, 8) * 2 + 1)
    run_case(s, "relu", nn.ReLU(), away_from_zero(torch.randn(4, 5)))
    run_case(s, "gelu", nn.GELU(), torch.randn(4, 5) * 2)
    run_case(s, "maxpool_3_2_1", nn.MaxPool2d(3, 2, 1), torch.randn(2, 3, 8, 8))
    run_case(s, "maxpool_2", nn.MaxPool2d(2), torch.randn(1, 2, 6, 6))
    run_case(s, "avgpool_1", nn.AdaptiveAvgPool2d(1), torch.randn(2, 3, 7, 7))
    run_case(s, "avgpool_3", nn.AdaptiveAvgPool2d(3), torch.randn(2, 3, 6, 6))
    run_case(s, "flatten", nn.Flatten(), torch.randn(2, 3, 2, 2))
    run_case(s, "attention", Attention(12, 3, qkv_bias=True), torch.randn(2, 5, 12))
    run_case(s, "attention_nobias", Attention(12, 4, qkv_bias=False), torch.randn(2, 5, 12))
    blk = Block(12, 3)
    randomize(blk)
    run_case(s, "block", blk, torch.randn(2, 5, 12))
    run_case(s, "mlp", Mlp(12, 48), torch.randn(2, 5, 12))
    run_case(s, "patch_embed", PatchEmbed(8, 4, 3, 12), torch.randn(2, 3, 8, 8))
    for train in (True, False):
        tag = "train" if train else "eval"
        m = build_mlp_v3(3, 10, 16, 6)
        randomize(m)
        run_case(s, f"mlp_v3_{tag}", m, torch.randn(5, 10), train)
        m = build_mlp_v3(2, 6, 16, 6, last_bn=False)
        randomize(m)
        run_case(s, f"mlp_v3_pred_{tag}", m, torch.randn(5, 6), train)
    run_case(s, "mlp_v2", nn.Sequential(nn.Linear(10, 12), nn.ReLU(), nn.Linear(12, 6)), torch.randn(5, 10))
    s["sincos/4x4x48"] = moco_v3_sincos((4, 4), 48)
    s["sincos/2x3x8"] = moco_v3_sincos((2, 3), 8)
    s["sincos/8x8x192"] = moco_v3_sincos((8, 8), 192)
    safetensors_io.save(os.path.join(OUT, "layers.safetensors"), s)


# ----------------------------------------------------------------------------- models
def gen_resnet18_w16():
    model = WidthResNet(BasicBlock, [2, 2, 2, 2], width=16, num_classes=10, in_ch=3, small_stem=True)
    formula_init(model)
    s = {}
    x = torch.randn(4, 3, 32, 32)
    m = model.double().train()
    x64 = x.double().requires_grad_(True)
    y = m(x64)
    w = torch.randn(y.shape).double()
    (y * w).sum().backward()
    s["x"], s["w"], s["y"], s["dx"] = f32(x), f32(w), f32(y), f32(x64.grad)
    for k, p in m.named_parameters():
        s[f"grad/{k}"] = f32(p.grad)
    for k, b in m.named_buffers():
        s[f"state_after/{k}"] = f32(b) if b.is_floating_point() else b.clone()
    with torch.no_grad():
        s["y_eval"] = f32(m.eval()(x.double()))  # with the running statistics updated above
    safetensors_io.save(os.path.join(OUT, "resnet18_w16.safetensors"), s)


def gen_resnet50_w4():
    model = WidthResNet(Bottleneck, [3, 4, 6, 3], width=4, num_classes=10, in_ch=1, small_stem=False)
    formula_init(model)
    s = {}
    x = torch.randn(4, 1, 64, 64)
    m = model.double().train()
    x64 = x.double().requires_grad_(True)
    y = m(x64)
    w = torch.randn(y.shape).double()
    (y * w).sum().backward()
    s["x"], s["w"], s["y"], s["dx"] = f32(x), f32(w), f32(y), f32(x64.grad)
    for k, p in m.named_parameters():
        if p.dim() == 1 or k in ("conv1.weight", "fc.weight", "layer3.2.conv2.weight"):
            s[f"grad/{k}"] = f32(p.grad)
    safetensors_io.save(os.path.join(OUT, "resnet50_w4.safetensors"), s)


def gen_vit_mini():
    model = VisionTransformerMoCo(img_size=16, patch_size=4, in_chans=3, num_classes=10, embed_dim=48, depth=2,
                                  num_heads=3)
    s = {f"state/{k}": f32(v) for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 16, 16)
    m = model.double().train()
    x64 = x.double().requires_grad_(True)
    y = m(x64)
    w = torch.randn(y.shape).double()
    (y * w).sum().backward()
    s["x"], s["w"], s["y"], s["dx"] = f32(x), f32(w), f32(y), f32(x64.grad)
    for k, p in m.named_parameters():
        if p.grad is not None:
            s[f"grad/{k}"] = f32(p.grad)
    safetensors_io.save(os.path.join(OUT, "vit_mini.safetensors"), s)


def resnet18_w4():
    return WidthResNet(BasicBlock, [2, 2, 2, 2], width=4, num_classes=10, in_ch=3, small_stem=False)


def gen_resnet18_w4_torch():
    """A checkpoint as PyTorch writes it: torchvision init, one training
    forward (running statistics move), then the state dict."""
    model = resnet18_w4().train()
    with torch.no_grad():
        model(torch.randn(4, 3, 32, 32) * 2 + 1)
    sd = model.state_dict()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        y = model.double().eval()(x.double())
    meta = {"format": "pt", "input": "input.x", "output": "input.y_eval"}
    tensors = {k: v for k, v in sd.items()}
    safetensors_io.save(os.path.join(OUT, "resnet18_w4_torch.safetensors"), tensors, meta)
    safetensors_io.save(os.path.join(OUT, "resnet18_w4_io.safetensors"), {"x": f32(x), "y_eval": f32(y)})


def gen_names():
    models = {
        "resnet18": torchvision.models.resnet18(),
        "resnet34": torchvision.models.resnet34(),
        "resnet50": torchvision.models.resnet50(),
        "resnet18_cifar_gray": WidthResNet(BasicBlock, [2, 2, 2, 2], 64, 10, in_ch=1, small_stem=True),
        "vit_small": VisionTransformerMoCo(embed_dim=384, depth=12, num_heads=12),
        "vit_tiny_p4_32": VisionTransformerMoCo(img_size=32, patch_size=4, embed_dim=192, depth=12, num_heads=3,
                                                num_classes=10),
    }
    with open(os.path.join(OUT, "names.txt"), "w") as f:
        f.write("# model tensor dtype shape (state_dict order), generated by tests/parity/gen_nn.py\n")
        for mname, m in models.items():
            for k, v in m.state_dict().items():
                dt = {torch.float32: "float32", torch.int64: "int64"}[v.dtype]
                f.write(f"{mname} {k} {dt} {','.join(map(str, v.shape))}\n")
            trainable = sum(p.numel() for p in m.parameters() if p.requires_grad)
            f.write(f"{mname} #trainable_parameters {trainable}\n")


def check(path):
    """Loads a ResNet-18 checkpoint written by moco.cpp into PyTorch (strict):
    torchvision.models.resnet18 itself for width 64, else the width-4 fixture
    model, whose eval output must then match the fixture's."""
    tensors = {k: torch.from_numpy(v) for k, v in safetensors_io.load(path).items()}
    width, classes = tensors["conv1.weight"].shape[0], tensors["fc.weight"].shape[0]
    if width == 64:
        model = torchvision.models.resnet18(num_classes=classes)
        model.load_state_dict(tensors, strict=True)
        print(f"{path}: {len(tensors)} tensors loaded into torchvision.models.resnet18 (strict)")
        return
    model = resnet18_w4()
    model.load_state_dict(tensors, strict=True)
    io = safetensors_io.load(os.path.join(OUT, "resnet18_w4_io.safetensors"))
    with torch.no_grad():
        y = model.double().eval()(torch.from_numpy(io["x"]).double())
    err = (y.float() - torch.from_numpy(io["y_eval"])).abs().max().item()
    print(f"{path}: {len(tensors)} tensors loaded into torchvision-named ResNet-18 (strict); "
          f"eval output max |diff| vs fixture {err:.3g}")
    assert err < 1e-4


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
        sys.exit(0)
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    gen_layers()
    gen_resnet18_w16()
    gen_resnet50_w4()
    gen_vit_mini()
    gen_resnet18_w4_torch()
    gen_names()
    for f in sorted(os.listdir(OUT)):
        print(f"{f:32s} {os.path.getsize(os.path.join(OUT, f)):>9d} bytes")
