"""Golden values for the nn layers (packages/torch/test/nn_layers.test.ts and friends).

Run with Debian's PyTorch 1.13:  /usr/bin/python3 packages/torch/test/golden/nn_gen.py
Writes nn_layers.json next to this file. For every case it records the module's state_dict
(so the TypeScript side can load identical weights), the inputs, the outputs, a fixed
upstream gradient per output, and the gradients of every parameter and of every float input
for loss = sum_i (output_i * grad_output_i).
"""
import json
import os

import torch
import torch.nn as nn

torch.manual_seed(0)
torch.set_num_threads(1)


def enc(t):
    t = t.detach()
    data = t.flatten().tolist()
    if t.is_floating_point():
        data = [float(f"{x:.9g}") for x in data]  # 9 significant digits round-trip float32
    return {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "data": data}


def randomize(module):
    """Replaces default affine weights (ones/zeros) with random ones so gradients are informative."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5)


def run(module, inputs, call=None, randomize_params=False, extras=None):
    if randomize_params:
        randomize(module)
    inputs = [x.clone().requires_grad_(x.is_floating_point()) for x in inputs]
    out = call(module, *inputs) if call else module(*inputs)
    outs = [o for o in (out if isinstance(out, tuple) else (out,)) if o is not None]
    gouts = [torch.randn_like(o) for o in outs]
    loss = sum((o * g).sum() for o, g in zip(outs, gouts))
    loss.backward()
    grads = {name: enc(p.grad) for name, p in module.named_parameters()}
    for i, x in enumerate(inputs):
        if x.requires_grad:
            grads[f"input{i}"] = enc(x.grad)
    return {
        "state": {k: enc(v) for k, v in module.state_dict().items()},
        "inputs": [enc(x) for x in inputs],
        "extras": {k: enc(v) for k, v in (extras or {}).items()},
        "outputs": [enc(o) for o in outs],
        "gradOutputs": [enc(g) for g in gouts],
        "grads": grads,
    }


cases = {}
r = torch.randn

cases["linear"] = run(nn.Linear(5, 4), [r(2, 3, 5)])
cases["linear_nobias"] = run(nn.Linear(5, 4, bias=False), [r(3, 5)])
cases["conv1d"] = run(nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2), [r(2, 4, 9)])
cases["conv2d"] = run(nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), [r(2, 4, 7, 7)])
cases["conv2d_dilated"] = run(nn.Conv2d(3, 4, (3, 2), stride=(1, 2), padding=(2, 1), dilation=2), [r(2, 3, 6, 7)])
cases["conv_transpose2d"] = run(
    nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2), [r(2, 4, 5, 5)])
cases["conv_transpose2d_rect"] = run(
    nn.ConvTranspose2d(3, 2, (2, 3), stride=(2, 1), padding=(0, 1), dilation=(1, 2), bias=False), [r(2, 3, 4, 5)])
cases["group_norm"] = run(nn.GroupNorm(2, 6), [r(2, 6, 4, 4)], randomize_params=True)
cases["layer_norm"] = run(nn.LayerNorm([4, 5]), [r(2, 3, 4, 5)], randomize_params=True)
cases["layer_norm_plain"] = run(nn.LayerNorm(5, eps=1e-3, elementwise_affine=False), [r(3, 5)])
cases["embedding"] = run(nn.Embedding(10, 4), [torch.tensor([[1, 3, 3, 9, 0], [2, 2, 7, 1, 5]])])
cases["gelu"] = run(nn.GELU(), [r(3, 7)])
cases["gelu_tanh"] = run(nn.GELU(approximate="tanh"), [r(3, 7)])
cases["tanh"] = run(nn.Tanh(), [r(3, 7)])
cases["sigmoid"] = run(nn.Sigmoid(), [r(3, 7)])
cases["flatten"] = run(nn.Flatten(), [r(2, 3, 4, 5)])
cases["upsample"] = run(nn.Upsample(scale_factor=2, mode="nearest"), [r(2, 3, 4, 5)])
cases["avg_pool2d"] = run(nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), [r(2, 3, 7, 6)])
cases["max_pool2d"] = run(nn.MaxPool2d(3, stride=2, padding=1), [r(2, 3, 7, 6)])
cases["sequential"] = run(
    nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 3)), [r(4, 6)])

# MultiheadAttention. Self-attention, sequence-first (L, N, E), with a key padding mask.
E, H = 8, 2
kpm = torch.tensor([[False, False, False, True, True], [False, False, False, False, False]])
cases["mha_self"] = run(
    nn.MultiheadAttention(E, H), [r(5, 2, E)],
    call=lambda m, x: m(x, x, x, key_padding_mask=kpm), extras={"keyPaddingMask": kpm})
# Self-attention, batch first, causal boolean mask (True = may not attend), per-head weights.
causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
cases["mha_self_causal"] = run(
    nn.MultiheadAttention(E, H, batch_first=True), [r(2, 5, E)],
    call=lambda m, x: m(x, x, x, attn_mask=causal, average_attn_weights=False), extras={"attnMask": causal})
# Cross-attention, batch first, distinct key and value, float additive mask and key padding.
fmask = r(4, 6)
kpm2 = torch.tensor([[False] * 6, [False, False, False, False, True, True]])
cases["mha_cross"] = run(
    nn.MultiheadAttention(E, H, batch_first=True), [r(2, 4, E), r(2, 6, E), r(2, 6, E)],
    call=lambda m, q, k, v: m(q, k, v, key_padding_mask=kpm2, attn_mask=fmask),
    extras={"attnMask": fmask, "keyPaddingMask": kpm2})
# Cross-attention with a 3-D boolean mask (N·H, L, S), no bias, weights not needed.
mask3 = torch.rand(2 * H, 4, 6) < 0.3
mask3[..., 0] = False  # every query keeps at least one key
cases["mha_cross_mask3d"] = run(
    nn.MultiheadAttention(E, H, bias=False), [r(4, 2, E), r(6, 2, E)],
    call=lambda m, q, kv: m(q, kv, kv, attn_mask=mask3, need_weights=False), extras={"attnMask": mask3})


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.GroupNorm(4, 16)
        self.conv = nn.Conv2d(16, 16, 3, padding=1)
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True)
        self.ln = nn.LayerNorm(16)
        self.register_buffer("pos", torch.zeros(5, 16))
        self.register_buffer("cache", torch.zeros(2), persistent=False)


class Composite(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 16)
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.SiLU(), nn.Conv2d(16, 16, 1, bias=False))
        self.blocks = nn.ModuleList([Block(), Block()])
        self.up = nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(8, 2))
        self.register_buffer("scale", torch.ones(3))  # own buffers come before children's entries

# Training mode: batch statistics; the state saved after the step holds the updated running ones.
cases["batch_norm2d"] = run(nn.BatchNorm2d(3), [r(4, 3, 5, 5)], randomize_params=True)


composite = [[k, list(v.shape)] for k, v in Composite().state_dict().items()]



def init_of(make):
    """Default initialisation from a fixed seed: the same generator draws must give the same weights."""
    torch.manual_seed(1234)
    return {k: enc(v) for k, v in make().state_dict().items()}


inits = {
    "linear": init_of(lambda: nn.Linear(7, 5)),
    "conv1d": init_of(lambda: nn.Conv1d(3, 4, 5)),
    "conv2d": init_of(lambda: nn.Conv2d(4, 6, 3, groups=2)),
    "conv_transpose2d": init_of(lambda: nn.ConvTranspose2d(4, 6, 3, groups=2)),
    "embedding": init_of(lambda: nn.Embedding(6, 3)),
    "mha": init_of(lambda: nn.MultiheadAttention(8, 2)),
}

out = {"torch": torch.__version__, "cases": cases, "compositeStateDict": composite, "init": inits}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nn_layers.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
print(f"wrote {path} ({os.path.getsize(path)} bytes)")
