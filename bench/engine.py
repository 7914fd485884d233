#!/usr/bin/python3
"""The PyTorch side of bench/engine.mjs (not a test). Run by engine.mjs, which talks to it over
stdin/stdout so that both engines can be sampled in turn:

    in:  {"case": "conv28", "iters": 5}      one JSON request per line
    out: {"wall": 0.123, "cpu": 0.2}         wall and process CPU seconds of `iters` iterations

Every case mirrors the function of the same name in engine.mjs: same shapes, same ops, same
thread settings (2 intra-op threads; the parent sets OPENBLAS_NUM_THREADS=1).
"""
import json
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)


def add_case():
    a, b = torch.randn(4), torch.randn(4)

    def step():
        a + b  # the result is freed at once (refcount), as dispose() does in JS

    return step


def conv_case(batch, channels, size):
    x = torch.randn(batch, channels, size, size, requires_grad=True)  # (B, C, H, W)
    w = torch.randn(channels, channels, 3, 3, requires_grad=True)
    b = torch.randn(channels, requires_grad=True)
    g = torch.randn(batch, channels, size, size)

    def step():
        y = F.conv2d(x, w, b, padding=1)
        y.backward(g)
        x.grad = w.grad = b.grad = None

    return step


def matmul_case(n):
    a, b = torch.randn(n, n), torch.randn(n, n)

    def step():
        a @ b

    return step


def resblock_case(batch, channels, size, emb_dim):
    """A UNet residual block (improved-diffusion's ResBlock without scale-shift) training step."""
    p = {
        'gn1_w': torch.ones(channels), 'gn1_b': torch.zeros(channels),
        'conv1_w': torch.randn(channels, channels, 3, 3) * 0.05, 'conv1_b': torch.zeros(channels),
        'emb_w': torch.randn(channels, emb_dim) * 0.05, 'emb_b': torch.zeros(channels),
        'gn2_w': torch.ones(channels), 'gn2_b': torch.zeros(channels),
        'conv2_w': torch.randn(channels, channels, 3, 3) * 0.05, 'conv2_b': torch.zeros(channels),
    }
    for t in p.values():
        t.requires_grad_(True)
    x = torch.randn(batch, channels, size, size)  # (B, C, H, W)
    emb = torch.randn(batch, emb_dim)  # (B, E)

    def step():
        h = F.conv2d(F.silu(F.group_norm(x, 32, p['gn1_w'], p['gn1_b'])), p['conv1_w'], p['conv1_b'], padding=1)
        e = F.linear(F.silu(emb), p['emb_w'], p['emb_b'])  # (B, C)
        h = h + e[:, :, None, None]
        h = F.conv2d(F.silu(F.group_norm(h, 32, p['gn2_w'], p['gn2_b'])), p['conv2_w'], p['conv2_b'], padding=1)
        out = x + h
        loss = (out * out).mean()
        loss.backward()
        with torch.no_grad():
            for t in p.values():
                t.sub_(t.grad, alpha=1e-3)
                t.grad = None

    return step


def norm_act_case(batch, channels, size):
    """GroupNorm(32) -> *(1 + scale) + shift -> SiLU -> Dropout(0.1), forward + backward (composed)."""
    x = torch.randn(batch, channels, size, size, requires_grad=True)  # (B, C, H, W)
    w = torch.ones(channels, requires_grad=True)
    b = torch.zeros(channels, requires_grad=True)
    scale = (torch.randn(batch, channels) * 0.1).requires_grad_()  # (B, C)
    shift = (torch.randn(batch, channels) * 0.1).requires_grad_()  # (B, C)
    g = torch.randn(batch, channels, size, size)

    def step():
        h = F.group_norm(x, 32, w, b) * (1 + scale[:, :, None, None]) + shift[:, :, None, None]
        F.dropout(F.silu(h), 0.1, training=True).backward(g)
        x.grad = w.grad = b.grad = scale.grad = shift.grad = None

    return step


CASES = {
    'add': add_case,
    'conv28': lambda: conv_case(32, 32, 28),
    'conv14': lambda: conv_case(32, 64, 14),
    'matmul1024': lambda: matmul_case(1024),
    'matmul2048': lambda: matmul_case(2048),
    'normact14': lambda: norm_act_case(64, 64, 14),
    'normact28': lambda: norm_act_case(64, 32, 28),
    'resblock': lambda: resblock_case(32, 64, 14, 128),
}


def main():
    steps = {}
    for line in sys.stdin:
        req = json.loads(line)
        if req.get('quit'):
            break
        name = req['case']
        if name not in steps:
            steps[name] = CASES[name]()
            steps[name]()  # warm-up (allocator, oneDNN primitive caches)
        step = steps[name]
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(req['iters']):
            step()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        sys.stdout.write(json.dumps({'wall': wall, 'cpu': cpu}) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    sys.stdout.write(json.dumps({'ready': True, 'torch': torch.__version__, 'threads': torch.get_num_threads()}) + '\n')
    sys.stdout.flush()
    main()
