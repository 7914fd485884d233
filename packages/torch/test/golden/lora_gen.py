"""Golden values for LoRA-wrapped layers (packages/torch/test/nn_lora.test.ts).

Run with Debian's PyTorch 1.13:  /usr/bin/python3 packages/torch/test/golden/lora_gen.py
Writes lora.json next to this file. LoRA is written out here as PEFT defines it (Hu et al. 2021):
h = W x + sum_k (alpha_k / r_k) * s_k * B_k A_k x, with A a layer like the base (for convolutions:
same kernel, stride, padding, dilation, r output channels) and B a 1x1 layer out of r channels.
B is drawn at random here (not zero) so every gradient is informative. For every case: the base
state, A and B per adapter, the input, the output, a fixed upstream gradient, the gradients of A,
B and the input (the base is frozen), the merged weight W + sum c_k B_k A_k and the merged output.
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_num_threads(1)


def enc(t):
    t = t.detach()
    data = [float(f"{x:.9g}") for x in t.flatten().tolist()]  # 9 significant digits round-trip float32
    return {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "data": data}


def adapter_layers(base, r):
    if isinstance(base, nn.Linear):
        return nn.Linear(base.in_features, r, bias=False), nn.Linear(r, base.out_features, bias=False)
    if isinstance(base, nn.Conv2d):
        a = nn.Conv2d(base.in_channels, r, base.kernel_size, stride=base.stride, padding=base.padding,
                      dilation=base.dilation, bias=False)
        return a, nn.Conv2d(r, base.out_channels, 1, bias=False)
    a = nn.Conv1d(base.in_channels, r, base.kernel_size, stride=base.stride, padding=base.padding,
                  dilation=base.dilation, bias=False)
    return a, nn.Conv1d(r, base.out_channels, 1, bias=False)


def run(base, x, adapters):
    """adapters: list of (rank, alpha, scale)."""
    for p in base.parameters():
        p.requires_grad_(False)
    layers = []
    for r, alpha, scale in adapters:
        a, b = adapter_layers(base, r)
        with torch.no_grad():
            b.weight.copy_(torch.randn_like(b.weight) * 0.3)
        layers.append((a, b, alpha / r * scale))
    x = x.clone().requires_grad_(True)
    y = base(x)
    for a, b, c in layers:
        y = y + c * b(a(x))
    g = torch.randn_like(y)
    (y * g).sum().backward()
    with torch.no_grad():
        w = base.weight.clone()
        for a, b, c in layers:
            delta = (b.weight.flatten(1) @ a.weight.flatten(1)).view_as(w)
            w += c * delta
        merged = F.linear(x, w, base.bias) if isinstance(base, nn.Linear) else (
            F.conv2d(x, w, base.bias, base.stride, base.padding, base.dilation) if isinstance(base, nn.Conv2d)
            else F.conv1d(x, w, base.bias, base.stride, base.padding, base.dilation))
        assert torch.allclose(merged, y, atol=1e-5), "merge must equal the unmerged forward"
    return {
        "base": {k: enc(v) for k, v in base.state_dict().items()},
        "adapters": [
            {"rank": r, "alpha": alpha, "scale": scale, "A": enc(a.weight), "B": enc(b.weight),
             "gradA": enc(a.weight.grad), "gradB": enc(b.weight.grad)}
            for (r, alpha, scale), (a, b, _) in zip(adapters, layers)
        ],
        "input": enc(x),
        "output": enc(y),
        "gradOutput": enc(g),
        "gradInput": enc(x.grad),
        "mergedWeight": enc(w),
        "mergedOutput": enc(merged),
    }


r = torch.randn
cases = {
    "linear": run(nn.Linear(6, 5), r(2, 4, 6), [(2, 4.0, 0.75)]),
    "linear_two_adapters": run(nn.Linear(6, 5), r(3, 6), [(2, 2.0, 1.0), (3, 6.0, -0.5)]),
    "conv1d_qkv": run(nn.Conv1d(4, 12, 1), r(2, 4, 9), [(2, 2.0, 1.0)]),
    "conv1d_k3": run(nn.Conv1d(4, 6, 3, stride=2, padding=1), r(2, 4, 9), [(3, 1.5, 1.0)]),
    "conv2d": run(nn.Conv2d(3, 4, 3, stride=2, padding=1), r(2, 3, 7, 7), [(2, 4.0, 1.0)]),
    "conv2d_dilated": run(nn.Conv2d(3, 4, (3, 2), stride=(1, 2), padding=(2, 1), dilation=2), r(2, 3, 6, 7), [(2, 2.0, 0.5)]),
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lora.json")
with open(out, "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))
    f.write("\n")
print(f"wrote {out}: {len(cases)} cases")
