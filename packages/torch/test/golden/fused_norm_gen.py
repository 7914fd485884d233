#!/usr/bin/python3
"""Goldens for diffuse::group_norm_act (test/fused-norm.test.ts): PyTorch 1.13's composition
GroupNorm -> y*(1 + scale) + shift -> SiLU, computed in float32 (inputs given in bfloat16 are
widened first, outputs rounded to the case's out dtype), with the gradients of a fixed upstream
gradient gy for x, weight, bias, scale and shift. No dropout: its invariants are tested directly.

Run: /usr/bin/python3 packages/torch/test/golden/fused_norm_gen.py  (writes fused_norm.json here)
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)

# name: (shape, groups, in dtype, out dtype, affine, scale-shift, silu)
CASES = {
    'f32_full': ((2, 8, 3, 5), 4, torch.float32, torch.float32, True, True, True),
    'f32_to_bf16': ((2, 8, 3, 5), 2, torch.float32, torch.bfloat16, True, False, True),
    'bf16_full': ((2, 8, 3, 5), 4, torch.bfloat16, torch.bfloat16, True, True, True),
    'bf16_to_f32': ((3, 4, 6), 2, torch.bfloat16, torch.float32, True, True, False),
    'f32_plain_1d': ((2, 6, 7), 3, torch.float32, torch.float32, False, False, False),
    'f32_group_per_channel': ((2, 4, 4, 4), 4, torch.float32, torch.float32, True, True, True),
}


def flat(t):
    return t.detach().float().flatten().tolist()


def case(shape, groups, in_dtype, out_dtype, affine, film, silu):
    b, c = shape[0], shape[1]
    # A nonzero mean and a spread that differs per channel, so the statistics matter.
    x = (torch.randn(shape) * 2 + 0.5).to(in_dtype).float().requires_grad_()
    leaves = [x]
    w = bias = scale = shift = None
    if affine:
        w = (torch.randn(c) * 0.5 + 1).requires_grad_()
        bias = (torch.randn(c) * 0.3).requires_grad_()
        leaves += [w, bias]
    if film:
        scale = (torch.randn(b, c) * 0.5).requires_grad_()
        shift = (torch.randn(b, c) * 0.5).requires_grad_()
        leaves += [scale, shift]
    h = F.group_norm(x, groups, w, bias, 1e-5)
    if film:
        expand = (b, c) + (1,) * (len(shape) - 2)
        h = h * (1 + scale.reshape(expand)) + shift.reshape(expand)
    if silu:
        h = F.silu(h)
    y = h.to(out_dtype)
    gy = torch.randn(shape).to(out_dtype)
    grads = torch.autograd.grad(h, leaves, gy.float())
    named = dict(zip(['x'] + (['weight', 'bias'] if affine else []) + (['scale', 'shift'] if film else []), zip(leaves, grads)))
    return {
        'shape': list(shape), 'groups': groups, 'inDtype': str(in_dtype)[6:], 'outDtype': str(out_dtype)[6:], 'silu': silu,
        'inputs': {k: flat(v) for k, (v, _) in named.items()},
        'gy': flat(gy),
        'y': flat(y),
        # The gradient of x is returned in x's dtype.
        'grads': {k: flat(g.to(in_dtype) if k == 'x' else g) for k, (_, g) in named.items()},
    }


out = {'torch': torch.__version__, 'cases': {k: case(*v) for k, v in CASES.items()}}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fused_norm.json'), 'w') as f:
    json.dump(out, f)
