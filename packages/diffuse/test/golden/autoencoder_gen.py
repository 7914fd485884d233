"""Golden values for the autoencoder tests: a PyTorch mirror of diffuse's models/autoencoder*.ts.

Written for this project after the LDM first-stage models (ResnetBlock without timestep, strided
conv down, nearest + conv up, improved-diffusion's AttentionBlock at the lowest resolution), the
diagonal Gaussian posterior, and VQ-VAE's vector quantizer with the straight-through estimator.
Module names match ours so that state-dict keys agree.

Run with Debian's PyTorch 1.13:  /usr/bin/python3 packages/diffuse/test/golden/autoencoder_gen.py
Writes autoencoder_golden.json next to this script. Weights are not stored: each parameter is a
randn draw from torch.Generator().manual_seed(seed), one per parameter in state-dict order,
scaled by 1/sqrt(fan_in) (vectors by 0.1; GroupNorm weights get 1 added: a module named *norm*); libtorch's generator
gives the same numbers from TypeScript.
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
if __name__ == "__main__":
    torch.set_num_threads(1)


def norm(c):
    return nn.GroupNorm(min(32, c), c, eps=1e-5)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.nin_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.nin_shortcut is None else self.nin_shortcut(x)) + h


class Attention(nn.Module):
    """improved-diffusion's AttentionBlock, one head, legacy q/k/v order."""

    def __init__(self, c):
        super().__init__()
        self.norm = norm(c)
        self.qkv = nn.Conv1d(c, 3 * c, 1)
        self.proj_out = nn.Conv1d(c, c, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        flat = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(flat))
        q, k, v = qkv.split(c, dim=1)
        scale = 1 / math.sqrt(math.sqrt(c))
        weight = torch.einsum("bct,bcs->bts", q * scale, k * scale).softmax(dim=-1)
        a = torch.einsum("bts,bcs->bct", weight, v)
        return (flat + self.proj_out(a)).reshape(b, c, h, w)


class Mid(nn.Module):
    def __init__(self, c, attention):
        super().__init__()
        self.block_1 = ResnetBlock(c, c)
        self.attn_1 = Attention(c) if attention else None
        self.block_2 = ResnetBlock(c, c)

    def forward(self, x):
        h = self.block_1(x)
        if self.attn_1 is not None:
            h = self.attn_1(h)
        return self.block_2(h)


class Down(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.op = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x):
        return self.op(x)


class Up(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class Encoder(nn.Module):
    def __init__(self, o, out):
        super().__init__()
        self.conv_in = nn.Conv2d(o["inChannels"], o["channels"], 3, padding=1)
        c, layers = o["channels"], []
        for level, mult in enumerate(o["channelMult"]):
            for _ in range(o["numResBlocks"]):
                layers.append(ResnetBlock(c, o["channels"] * mult))
                c = o["channels"] * mult
            if level != len(o["channelMult"]) - 1:
                layers.append(Down(c))
        self.down = nn.Sequential(*layers)
        self.mid = Mid(c, o["attention"])
        self.norm_out = norm(c)
        self.conv_out = nn.Conv2d(c, out, 3, padding=1)

    def forward(self, x):
        h = self.mid(self.down(self.conv_in(x)))
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, o):
        super().__init__()
        c = o["channels"] * o["channelMult"][-1]
        self.conv_in = nn.Conv2d(o["zChannels"], c, 3, padding=1)
        self.mid = Mid(c, o["attention"])
        layers = []
        for level in reversed(range(len(o["channelMult"]))):
            for _ in range(o["numResBlocks"] + 1):
                layers.append(ResnetBlock(c, o["channels"] * o["channelMult"][level]))
                c = o["channels"] * o["channelMult"][level]
            if level != 0:
                layers.append(Up(c))
        self.up = nn.Sequential(*layers)
        self.norm_out = norm(c)
        self.conv_out = nn.Conv2d(c, o["inChannels"], 3, padding=1)

    def forward(self, z):
        h = self.up(self.mid(self.conv_in(z)))
        return self.conv_out(F.silu(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    def __init__(self, o):
        super().__init__()
        c = o["zChannels"]
        self.encoder = Encoder(o, 2 * c)
        self.decoder = Decoder(o)
        self.quant_conv = nn.Conv2d(2 * c, 2 * c, 1)
        self.post_quant_conv = nn.Conv2d(c, c, 1)


def fill(model, seed):
    """randn per parameter in state-dict order (see the module docstring)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.state_dict(keep_vars=True).items():
            w = torch.randn(p.shape, generator=g)
            if p.dim() >= 2:
                w = w / math.sqrt(p[0].numel())
            else:
                w = w * 0.1 + (1.0 if name.endswith(".weight") and "norm" in name.split(".")[-2] else 0.0)
            p.copy_(w)


def flat(t):
    return [round(float(v), 7) for v in t.detach().reshape(-1).tolist()]


OPTIONS = dict(inChannels=1, channels=8, channelMult=[1, 2], numResBlocks=1, zChannels=2, attention=True, imageSize=8)


def kl_golden():
    model = AutoencoderKL(OPTIONS)
    fill(model, 7)
    g = torch.Generator().manual_seed(11)
    x = torch.rand(2, 1, 8, 8, generator=g) * 2 - 1
    x.requires_grad_(True)
    r = torch.randn(2, 1, 8, 8, generator=g)
    moments = model.quant_conv(model.encoder(x))
    mean, logvar = moments.chunk(2, dim=1)
    logvar = logvar.clamp(-30, 20)
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(dim=[1, 2, 3])
    xrec = model.decoder(model.post_quant_conv(mean))
    loss = (xrec * r).sum() + kl.sum()
    loss.backward()
    scale = 1 / mean.detach().flatten().std()
    return {
        "options": OPTIONS,
        "seed": 7,
        "keys": list(model.state_dict().keys()),
        "shapes": {k: list(v.shape) for k, v in model.state_dict().items()},
        "x": flat(x), "r": flat(r),
        "moments": flat(moments), "kl": flat(kl), "xrec": flat(xrec), "loss": float(loss),
        "xGrad": flat(x.grad),
        "gradNorms": {k: float(p.grad.norm()) for k, p in model.named_parameters()},
        "scaleFactor": float(scale),
    }


def vq_golden():
    """The quantizer alone: nearest codes, straight-through gradient, codebook + β·commitment."""
    g = torch.Generator().manual_seed(21)
    K, D, beta = 16, 3, 0.25
    codebook = torch.randn(K, D, generator=g).requires_grad_(True)
    z = torch.randn(2, D, 3, 3, generator=g).requires_grad_(True)
    r = torch.randn(2, D, 3, 3, generator=g)
    zf = z.permute(0, 2, 3, 1).reshape(-1, D)
    d = zf.pow(2).sum(1, keepdim=True) + codebook.pow(2).sum(1)[None] - 2 * zf @ codebook.t()
    idx = d.argmin(1)
    e = codebook[idx]
    vq_loss = ((e - zf.detach()) ** 2).mean() + beta * ((zf - e.detach()) ** 2).mean()
    zq = (zf + (e - zf).detach()).reshape(2, 3, 3, D).permute(0, 3, 1, 2)
    loss = (zq * r).sum() + vq_loss
    loss.backward()
    counts = torch.bincount(idx, minlength=K).float()
    p = counts / counts.sum()
    perplexity = torch.exp(-(p * torch.log(p + 1e-10)).sum())
    return {
        "K": K, "D": D, "beta": beta,
        "codebook": flat(codebook), "z": flat(z), "r": flat(r),
        "indices": idx.tolist(), "zq": flat(zq), "vqLoss": float(vq_loss),
        "zGrad": flat(z.grad), "codebookGrad": flat(codebook.grad), "perplexity": float(perplexity),
    }


if __name__ == "__main__":
    out = {"kl": kl_golden(), "vq": vq_golden()}
    with open(os.path.join(HERE, "autoencoder_golden.json"), "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
    print("wrote autoencoder_golden.json", len(out["kl"]["keys"]), "keys")
