"""Golden values for the UNet tests: a PyTorch mirror of improved-diffusion's UNetModel.

Written for this project from improved-diffusion's structure (unet.py / nn.py) with the
guided-diffusion extensions our UNet has (resblock_updown, num_head_channels, the new attention
order, fractional channel multipliers) and the classifier-free-guidance null class (one extra
label-embedding row). Module names follow improved-diffusion so that state-dict keys match.

Run with Debian's PyTorch 1.13:  /usr/bin/python3 packages/diffuse/test/golden/unet_gen.py
Writes, next to this script:
  unet_<name>.safetensors  the inputs, the output and a few parameters' gradients of a fixed loss
  unet_golden.json         per config: the options, state-dict keys in order, shapes, parameter
                           counts, the parameters zero-initialised by zero_module, a checksum of
                           each test weight, every parameter's gradient norm; and "ref-28"'s
                           parameter count and keys

The mirror's test weights are not stored (they would be megabytes): they are N(0, 0.3^2) draws
from torch.Generator().manual_seed(WEIGHT_SEED + config index), one randn per parameter in
state-dict order. libtorch's CPU generator gives the same numbers from TypeScript, and the
tests check every regenerated weight against the checksums here before loading it.
"""
import copy
import json
import math
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


# ---- building blocks -------------------------------------------------------------------------


class GroupNorm32(nn.GroupNorm):
    """GroupNorm that computes half-precision inputs in float32 (float64 stays float64)."""

    def forward(self, x):
        if x.dtype in (torch.float16, torch.bfloat16):
            return F.group_norm(x.float(), self.num_groups, self.weight.float(), self.bias.float(), self.eps).type(x.dtype)
        return super().forward(x)


def normalization(channels):
    return GroupNorm32(min(32, channels), channels)


def zero_module(module):
    for p in module.parameters():
        p.detach().zero_()
    return module


def timestep_embedding(t, dim, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class SiLU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


class TimestepBlock(nn.Module):
    pass


class TimestepEmbedSequential(nn.Sequential, TimestepBlock):
    def forward(self, x, emb):
        for layer in self:
            x = layer(x, emb) if isinstance(layer, TimestepBlock) else layer(x)
        return x


class Upsample(nn.Module):
    def __init__(self, channels, use_conv):
        super().__init__()
        self.use_conv = use_conv
        if use_conv:
            self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if self.use_conv else x


class Downsample(nn.Module):
    def __init__(self, channels, use_conv):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1) if use_conv else nn.AvgPool2d(2, 2)

    def forward(self, x):
        return self.op(x)


class ResBlock(TimestepBlock):
    def __init__(self, channels, emb_channels, dropout, out_channels=None, use_conv=False,
                 use_scale_shift_norm=False, up=False, down=False):
        super().__init__()
        out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_layers = nn.Sequential(normalization(channels), SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1))
        self.updown = up or down
        if up:
            self.h_upd, self.x_upd = Upsample(channels, False), Upsample(channels, False)
        elif down:
            self.h_upd, self.x_upd = Downsample(channels, False), Downsample(channels, False)
        else:
            self.h_upd = self.x_upd = nn.Identity()
        self.emb_layers = nn.Sequential(
            SiLU(), nn.Linear(emb_channels, 2 * out_channels if use_scale_shift_norm else out_channels))
        self.out_layers = nn.Sequential(
            normalization(out_channels), SiLU(), nn.Dropout(p=dropout),
            zero_module(nn.Conv2d(out_channels, out_channels, 3, padding=1)))
        if out_channels == channels:
            self.skip_connection = nn.Identity()
        elif use_conv:
            self.skip_connection = nn.Conv2d(channels, out_channels, 3, padding=1)
        else:
            self.skip_connection = nn.Conv2d(channels, out_channels, 1)

    def forward(self, x, emb):
        if self.updown:
            h = self.in_layers[:-1](x)
            h = self.h_upd(h)
            x = self.x_upd(x)
            h = self.in_layers[-1](h)
        else:
            h = self.in_layers(x)
        emb_out = self.emb_layers(emb).type(h.dtype)[..., None, None]
        if self.use_scale_shift_norm:
            scale, shift = torch.chunk(emb_out, 2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[1:](h)
        else:
            h = self.out_layers(h + emb_out)
        return self.skip_connection(x) + h


class QKVAttention(nn.Module):
    """Multi-head attention over packed (B, 3*H*C, T) projections. Legacy (improved-diffusion)
    order: per head [q, k, v]; new (guided-diffusion) order: [all q, all k, all v]."""

    def __init__(self, n_heads, new_order):
        super().__init__()
        self.n_heads = n_heads
        self.new_order = new_order

    def forward(self, qkv):
        bs, width, length = qkv.shape
        ch = width // (3 * self.n_heads)
        if self.new_order:
            q, k, v = (u.reshape(bs * self.n_heads, ch, length) for u in qkv.chunk(3, dim=1))
        else:
            q, k, v = qkv.reshape(bs * self.n_heads, ch * 3, length).split(ch, dim=1)
        scale = 1 / math.sqrt(math.sqrt(ch))
        weight = torch.einsum("bct,bcs->bts", q * scale, k * scale)
        weight = torch.softmax(weight.float(), dim=-1).type(weight.dtype)
        return torch.einsum("bts,bcs->bct", weight, v).reshape(bs, -1, length)


class AttentionBlock(nn.Module):
    def __init__(self, channels, num_heads=1, num_head_channels=-1, use_new_attention_order=False):
        super().__init__()
        self.num_heads = num_heads if num_head_channels == -1 else channels // num_head_channels
        self.norm = normalization(channels)
        self.qkv = nn.Conv1d(channels, channels * 3, 1)
        self.attention = QKVAttention(self.num_heads, use_new_attention_order)
        self.proj_out = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x):
        b, c, *spatial = x.shape
        x = x.reshape(b, c, -1)
        h = self.proj_out(self.attention(self.qkv(self.norm(x))))
        return (x + h).reshape(b, c, *spatial)


class UNetModel(nn.Module):
    def __init__(self, in_channels, model_channels, out_channels, num_res_blocks, attention_resolutions,
                 dropout=0.0, channel_mult=(1, 2, 4, 8), conv_resample=True, num_classes=None,
                 num_heads=1, num_head_channels=-1, num_heads_upsample=-1, use_scale_shift_norm=False,
                 resblock_updown=False, use_new_attention_order=False, null_class=True):
        super().__init__()
        if num_heads_upsample == -1:
            num_heads_upsample = num_heads
        self.model_channels = model_channels
        self.num_classes = num_classes
        emb_dim = model_channels * 4
        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb_dim), SiLU(), nn.Linear(emb_dim, emb_dim))
        if num_classes is not None:
            self.label_emb = nn.Embedding(num_classes + (1 if null_class else 0), emb_dim)

        def res(ch_in, ch_out, **kw):
            return ResBlock(ch_in, emb_dim, dropout, out_channels=ch_out,
                            use_scale_shift_norm=use_scale_shift_norm, **kw)

        def attn(ch, heads):
            return AttentionBlock(ch, heads, num_head_channels, use_new_attention_order)

        ch = input_ch = int(channel_mult[0] * model_channels)
        self.input_blocks = nn.ModuleList([TimestepEmbedSequential(nn.Conv2d(in_channels, ch, 3, padding=1))])
        chans = [ch]
        ds = 1
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers = [res(ch, int(mult * model_channels))]
                ch = int(mult * model_channels)
                if ds in attention_resolutions:
                    layers.append(attn(ch, num_heads))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                chans.append(ch)
            if level != len(channel_mult) - 1:
                self.input_blocks.append(TimestepEmbedSequential(
                    res(ch, ch, down=True) if resblock_updown else Downsample(ch, conv_resample)))
                chans.append(ch)
                ds *= 2
        self.middle_block = TimestepEmbedSequential(res(ch, ch), attn(ch, num_heads), res(ch, ch))
        self.output_blocks = nn.ModuleList([])
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(num_res_blocks + 1):
                layers = [res(ch + chans.pop(), int(model_channels * mult))]
                ch = int(model_channels * mult)
                if ds in attention_resolutions:
                    layers.append(attn(ch, num_heads_upsample))
                if level and i == num_res_blocks:
                    layers.append(res(ch, ch, up=True) if resblock_updown else Upsample(ch, conv_resample))
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))
        self.out = nn.Sequential(normalization(ch), SiLU(), zero_module(nn.Conv2d(input_ch, out_channels, 3, padding=1)))

    def forward(self, x, timesteps, y=None):
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels).to(self.time_embed[0].weight.dtype))
        if self.num_classes is not None:
            emb = emb + self.label_emb(y)
        hs = []
        h = x
        for module in self.input_blocks:
            h = module(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for module in self.output_blocks:
            h = module(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h)


# ---- golden files --------------------------------------------------------------------------


def write_safetensors(path, tensors):
    """A minimal safetensors writer (float32 / int64), keys in the given order."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        dtype = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# Options in our TypeScript names; the mirror takes improved-diffusion's.
CONFIGS = {
    "tiny": dict(inChannels=3, modelChannels=32, outChannels=3, learnSigma=True, numResBlocks=1,
                 attentionResolutions=[2], dropout=0.0, channelMult=[1, 2], convResample=True, numClasses=3,
                 numHeads=2, numHeadChannels=-1, numHeadsUpsample=-1, useScaleShiftNorm=True,
                 resblockUpdown=False, useNewAttentionOrder=False, imageSize=8),
    "updown": dict(inChannels=1, modelChannels=64, outChannels=1, learnSigma=False, numResBlocks=1,
                   attentionResolutions=[1, 2], dropout=0.0, channelMult=[0.5, 1], convResample=False,
                   numClasses=None, numHeads=1, numHeadChannels=16, numHeadsUpsample=-1, useScaleShiftNorm=False,
                   resblockUpdown=True, useNewAttentionOrder=True, imageSize=8),
}
REF_28 = dict(inChannels=1, modelChannels=32, outChannels=1, learnSigma=True, numResBlocks=2,
              attentionResolutions=[2], dropout=0.1, channelMult=[1, 2, 2], convResample=True, numClasses=None,
              numHeads=4, numHeadChannels=-1, numHeadsUpsample=-1, useScaleShiftNorm=True,
              resblockUpdown=False, useNewAttentionOrder=False, imageSize=28)

# Parameters whose full gradients go into the golden file.
GRAD_PARAMS = {
    "tiny": ["time_embed.0.weight", "label_emb.weight", "input_blocks.0.0.weight",
             "input_blocks.1.0.emb_layers.1.bias", "input_blocks.3.1.qkv.weight",
             "middle_block.1.proj_out.weight", "output_blocks.0.0.skip_connection.weight",
             "output_blocks.1.2.conv.bias", "out.2.weight", "out.2.bias"],
    "updown": ["time_embed.0.bias", "time_embed.2.bias", "input_blocks.1.1.qkv.weight", "input_blocks.2.0.in_layers.2.weight",
               "middle_block.1.qkv.bias", "output_blocks.1.2.emb_layers.1.bias", "output_blocks.1.2.out_layers.3.bias",
               "out.2.weight"],
}


def build(o):
    return UNetModel(
        in_channels=o["inChannels"], model_channels=o["modelChannels"],
        out_channels=o["outChannels"] * (2 if o["learnSigma"] else 1), num_res_blocks=o["numResBlocks"],
        attention_resolutions=o["attentionResolutions"], dropout=o["dropout"], channel_mult=o["channelMult"],
        conv_resample=o["convResample"], num_classes=o["numClasses"], num_heads=o["numHeads"],
        num_head_channels=o["numHeadChannels"], num_heads_upsample=o["numHeadsUpsample"],
        use_scale_shift_norm=o["useScaleShiftNorm"], resblock_updown=o["resblockUpdown"],
        use_new_attention_order=o["useNewAttentionOrder"])


WEIGHT_SEED = 1234


def run(model, x, t, y):
    """Forward and backward of the fixed loss; returns (output, loss, {name: grad})."""
    out = model(x, t, y)
    # A fixed loss that weighs every output element differently.
    w = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    loss = (out * w).sum() + 0.5 * out.square().mean()
    loss.backward()
    return out.detach(), loss.item(), {k: p.grad for k, p in model.named_parameters()}


def golden(name, o, index):
    torch.manual_seed(index)
    model = build(o)
    zero_init = [k for k, p in model.named_parameters() if p.abs().max().item() == 0]
    # Randomise every parameter (zero_module would leave the output identically zero).
    gen = torch.Generator().manual_seed(WEIGHT_SEED + index)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    model.eval()
    model64 = copy.deepcopy(model).double()
    b, s = 3, o["imageSize"]
    x = torch.randn(b, o["inChannels"], s, s)
    t = torch.tensor([0.0, 371.25, 999.0])
    y = torch.tensor([0, 2, 3]) if o["numClasses"] is not None else None  # 3 = the null class
    out, loss, grads = run(model, x, t, y)
    # The same in float64 measures float32's own rounding noise in each gradient: some are tiny
    # differences of large terms (e.g. a bias just before a GroupNorm), so any float32
    # implementation gets them only to that noise.
    _, _, grads64 = run(model64, x.double(), t, y)
    noise = {k: (g - grads64[k].float()) for k, g in grads.items()}
    tensors = {"x": x, "t": t, "out": out}
    if y is not None:
        tensors["y"] = y
    for k in GRAD_PARAMS[name]:
        tensors[f"grad.{k}"] = grads[k]
    write_safetensors(os.path.join(HERE, f"unet_{name}.safetensors"), tensors)
    return {
        "options": o,
        "keys": list(model.state_dict().keys()),
        "shapes": {k: list(v.shape) for k, v in model.state_dict().items()},
        "numParameters": sum(p.numel() for p in model.parameters()),
        "zeroInit": zero_init,
        "weightSeed": WEIGHT_SEED + index,
        "weightChecks": {k: [v.sum().item(), v.flatten()[0].item()] for k, v in model.state_dict().items()},
        "loss": loss,
        "gradNorms": {k: g.norm().item() for k, g in grads.items()},
        "gradNoiseNorms": {k: n.norm().item() for k, n in noise.items()},
        "gradNoiseMax": {k: noise[k].abs().max().item() for k in GRAD_PARAMS[name]},
    }


def main():
    out = {name: golden(name, o, i) for i, (name, o) in enumerate(CONFIGS.items())}
    ref = build(REF_28)
    out["ref28"] = {"options": REF_28, "numParameters": sum(p.numel() for p in ref.parameters()),
                    "keys": list(ref.state_dict().keys())}
    with open(os.path.join(HERE, "unet_golden.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    for name, g in out.items():
        print(name, g["numParameters"])


if __name__ == "__main__":
    main()
