#!/usr/bin/python3
"""Goldens for diffuse::packed_attention (test/packed-attention.test.ts): PyTorch's eager
multi-head attention over packed (B, 3·H·C, T) projections, in both channel orders, with the
gradient of the loss sum(out · W) with respect to qkv (W as in golden.ts lossWeights).

Run with Debian's /usr/bin/python3 (python3-torch); writes packed_attention.json beside itself.
"""
import json
import math
import os

import torch


def attention(qkv, heads, per_kind):
    b, width, t = qkv.shape
    c = width // (3 * heads)
    if per_kind:
        q, k, v = (x.reshape(b * heads, c, t) for x in qkv.chunk(3, dim=1))
    else:
        q, k, v = qkv.reshape(b * heads, 3 * c, t).split(c, dim=1)
    w = torch.softmax(torch.einsum("nct,ncs->nts", q, k) / math.sqrt(c), dim=-1)  # (BH, T, S)
    return torch.einsum("nts,ncs->nct", w, v).reshape(b, heads * c, t)


def loss_weights(n):
    return torch.tensor([((i * 7919) % 101) / 50 - 1 for i in range(n)], dtype=torch.float64)


def main():
    torch.manual_seed(7)
    cases = {}
    for name, (b, heads, c, t) in {"small": (2, 2, 4, 6), "odd": (1, 3, 5, 13), "one_token": (2, 1, 3, 1)}.items():
        for order in (0, 1):
            qkv = (torch.randn(b, 3 * heads * c, t, dtype=torch.float64) * 1.5).requires_grad_()
            out = attention(qkv, heads, order == 1)
            (out * loss_weights(out.numel()).reshape(out.shape)).sum().backward()
            cases[f"{name}_order{order}"] = {
                "heads": heads, "order": order, "shape": list(qkv.shape),
                "qkv": qkv.detach().flatten().tolist(), "out": out.detach().flatten().tolist(),
                "grad": qkv.grad.flatten().tolist(),
            }
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "packed_attention.json"), "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f)


if __name__ == "__main__":
    main()
