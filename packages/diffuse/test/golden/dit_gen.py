"""Golden values for the DiT tests: a PyTorch mirror of facebookresearch/DiT's models.py.

Written for this project from the DiT paper (Peebles & Xie 2023) and the structure of the
official models.py (PatchEmbed as a stride-p Conv2d, TimestepEmbedder, LabelEmbedder, DiTBlock
with adaLN-Zero, FinalLayer, unpatchify, get_2d_sincos_pos_embed), with the fixed position table
replaced by the same sin-cos values computed for any (h, w) grid, as our DiT does. Module names
follow DiT so that state-dict keys match.

Run with Debian's PyTorch:  /usr/bin/python3 packages/diffuse/test/golden/dit_gen.py
Writes dit_golden.json next to this script. The test weights are not stored: they are
N(0, 0.2^2) draws from torch.Generator().manual_seed(WEIGHT_SEED), one randn per parameter in
state-dict order (libtorch's generator gives the same numbers from TypeScript; the test checks
each regenerated weight's sum and first value). Random weights make every adaLN modulation,
gate and the head non-zero, so the goldens exercise them.
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn

WEIGHT_SEED = 1313
HERE = os.path.dirname(os.path.abspath(__file__))


def sincos_1d(dim, pos):
    omega = np.arange(dim // 2, dtype=np.float64) / (dim / 2.0)
    omega = 1.0 / 10000 ** omega
    out = np.einsum("m,d->md", pos.reshape(-1).astype(np.float64), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def sincos_2d(dim, h, w):
    # DiT's get_2d_sincos_pos_embed for an h×w grid: meshgrid(w, h), the column coordinate first.
    grid = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return np.concatenate([sincos_1d(dim // 2, grid[0]), sincos_1d(dim // 2, grid[1])], axis=1)


def sincos_3d(dim, t, h, w):
    # Clips: [x (3D/8), y (3D/8), t (D/4)], tokens in (t, y, x) row-major order.
    tt, yy, xx = np.meshgrid(np.arange(t), np.arange(h), np.arange(w), indexing="ij")
    dxy = 3 * dim // 8
    return np.concatenate([sincos_1d(dxy, xx), sincos_1d(dxy, yy), sincos_1d(dim - 2 * dxy, tt)], axis=1)


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def timestep_embedding(t, dim, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepEmbedder(nn.Module):
    def __init__(self, d, freq=256):
        super().__init__()
        self.freq = freq
        self.mlp = nn.Sequential(nn.Linear(freq, d), nn.SiLU(), nn.Linear(d, d))

    def forward(self, t):
        return self.mlp(timestep_embedding(t, self.freq))


class LabelEmbedder(nn.Module):
    def __init__(self, n, d):
        super().__init__()
        self.embedding_table = nn.Embedding(n + 1, d)  # + the null class

    def forward(self, y):
        return self.embedding_table(y)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        a = (q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5
        x = a.softmax(-1) @ v
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x):
        return self.fc2(nn.functional.gelu(self.fc1(x), approximate="tanh"))


class DiTBlock(nn.Module):
    def __init__(self, d, heads, mlp_ratio=4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(d, heads)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(d, int(d * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))

    def forward(self, x, c):
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
        x = x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
        return x


class FinalLayer(nn.Module):
    def __init__(self, d, p, out):
        super().__init__()
        self.norm_final = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(d, p * p * out)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class DiT(nn.Module):
    def __init__(self, in_channels, p, d, depth, heads, num_classes, learn_sigma=True, mlp_ratio=4.0):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = in_channels * 2 if learn_sigma else in_channels
        self.p = p
        self.d = d
        self.x_embedder = nn.Module()
        self.x_embedder.proj = nn.Conv2d(in_channels, d, p, stride=p)
        self.t_embedder = TimestepEmbedder(d)
        self.y_embedder = LabelEmbedder(num_classes, d) if num_classes else None
        self.blocks = nn.ModuleList([DiTBlock(d, heads, mlp_ratio) for _ in range(depth)])
        self.final_layer = FinalLayer(d, p, self.out_channels)

    def unpatchify(self, x, h, w):
        c, p = self.out_channels, self.p
        x = x.reshape(x.shape[0], h, w, p, p, c)
        x = torch.einsum("nhwpqc->nchpwq", x)
        return x.reshape(x.shape[0], c, h * p, w * p)

    def embed(self, x, t, y):
        h, w = x.shape[2] // self.p, x.shape[3] // self.p
        tokens = self.x_embedder.proj(x).flatten(2).transpose(1, 2)
        tokens = tokens + torch.from_numpy(sincos_2d(self.d, h, w)).float().unsqueeze(0)
        c = self.t_embedder(t)
        if self.y_embedder is not None:
            c = c + self.y_embedder(y)
        return tokens, c, h, w

    def forward(self, x, t, y=None):
        tokens, c, h, w = self.embed(x, t, y)
        for block in self.blocks:
            tokens = block(tokens, c)
        return self.unpatchify(self.final_layer(tokens, c), h, w)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def main():
    torch.manual_seed(0)
    opts = {"inChannels": 2, "patchSize": 2, "hiddenSize": 16, "depth": 2, "numHeads": 2, "numClasses": 3, "learnSigma": True, "mlpRatio": 4}
    model = DiT(2, 2, 16, 2, 2, 3)
    gen = torch.Generator().manual_seed(WEIGHT_SEED)
    sd = model.state_dict()
    with torch.no_grad():
        for k, v in sd.items():
            v.copy_(torch.randn(v.shape, generator=gen) * 0.2)
    model.eval()
    # A 4×6 image: a 2×3 (non-square) grid of patches.
    x = torch.randn(3, 2, 4, 6, generator=gen)
    t = torch.tensor([0.0, 371.25, 999.0])
    y = torch.tensor([0, 2, 3])  # 3 = the null class
    with torch.no_grad():
        tokens, c, h, w = model.embed(x, t, y)
        b0 = model.blocks[0]
        shift_msa, scale_msa, gate_msa, *_ = b0.adaLN_modulation(c).chunk(6, dim=1)
        modulated = modulate(b0.norm1(tokens), shift_msa, scale_msa)
        attn = b0.attn(modulated)
        mlp = b0.mlp(modulated)
        block0 = b0(tokens, c)
        out = model(x, t, y)
    unp_in = torch.arange(2 * 6 * 2 * 2 * 4, dtype=torch.float32).reshape(2, 6, 16)
    golden = {
        "options": opts,
        "weightSeed": WEIGHT_SEED,
        "keys": list(sd.keys()),
        "shapes": {k: list(v.shape) for k, v in sd.items()},
        "weightChecks": {k: [v.sum().item(), v.flatten()[0].item()] for k, v in sd.items()},
        "x": flat(x), "xShape": list(x.shape), "t": flat(t), "y": [int(v) for v in y],
        "tokens": flat(tokens), "cond": flat(c),
        "modulated": flat(modulated), "attn": flat(attn), "mlp": flat(mlp), "block0": flat(block0),
        "out": flat(out), "outShape": list(out.shape),
        # unpatchify of arange tokens on a 2×3 grid, p = 2, 4 channels
        "unpatchify": flat(model.unpatchify(unp_in, 2, 3)),
        "pos2d_3x5_d16": flat(torch.from_numpy(sincos_2d(16, 3, 5)).float()),
        "pos3d_2x3x2_d32": flat(torch.from_numpy(sincos_3d(32, 2, 3, 2)).float()),
    }
    with open(os.path.join(HERE, "dit_golden.json"), "w") as f:
        json.dump(golden, f)


if __name__ == "__main__":
    main()
