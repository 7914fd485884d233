#!/usr/bin/python3
"""The PyTorch side of bench/dit.mjs (not a test): the DiT mirror of the golden tests
(packages/diffuse/test/golden/dit_gen.py, imported, not copied) in PyTorch eager, float32,
driven over stdin/stdout so that both engines are timed in turn.

    {"op": "setup", "model": {...DiT options}, "imageSize": 28}   {"numParameters": ...}
    {"op": "train", "steps": 3, "batch": 32}    {"wall": s, "cpu": s, "images": 96}
    {"op": "sample", "batch": 64, "steps": 50}  {"wall": s, "cpu": s, "images": 64}
    {"op": "rss"}                               {"maxRssKiB": ...}
    {"op": "quit"}

A training step: uniform t, x_t = √ᾱ x_0 + √(1−ᾱ) ε on the cosine schedule (T = 1000), MSE on ε,
backward, gradient clipping at 1, AdamW. Sampling: DDIM (η = 0) over 50 evenly spaced steps,
no_grad, eval mode. The same work as the diffuse worker; 2 intra-op threads.
"""
import json
import math
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'packages', 'diffuse', 'test', 'golden'))
import dit_gen  # noqa: E402  (the DiT mirror)

torch.set_num_threads(2)
T = 1000
ALPHA_BAR = torch.tensor([math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2 / math.cos(0.008 / 1.008 * math.pi / 2) ** 2 for t in range(T)])


def clock():
    return time.perf_counter(), time.process_time()


def main():
    model = opt = None
    size = 28
    for line in sys.stdin:
        req = json.loads(line)
        op = req['op']
        if op == 'setup':
            m = req['model']
            size = req['imageSize']
            torch.manual_seed(0)
            model = dit_gen.DiT(m['inChannels'], m['patchSize'], m['hiddenSize'], m['depth'], m['numHeads'], None, learn_sigma=m['learnSigma'])
            opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0)
            out = {'numParameters': sum(p.numel() for p in model.parameters())}
        elif op == 'train':
            model.train()
            b = req['batch']
            w0, c0 = clock()
            for _ in range(req['steps']):
                x0 = torch.rand(b, 1, size, size) * 2 - 1
                t = torch.randint(0, T, (b,))
                ab = ALPHA_BAR[t].view(b, 1, 1, 1)
                eps = torch.randn_like(x0)
                xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
                loss = ((model(xt, t.float())[:, :1] - eps) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
            w1, c1 = clock()
            out = {'wall': w1 - w0, 'cpu': c1 - c0, 'images': b * req['steps']}
        elif op == 'sample':
            model.eval()
            b, steps = req['batch'], req['steps']
            ts = [round(i * T / steps) for i in range(steps)][::-1]
            w0, c0 = clock()
            with torch.no_grad():
                x = torch.randn(b, 1, size, size)
                for i, t in enumerate(ts):
                    ab, ab_prev = ALPHA_BAR[t], (ALPHA_BAR[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0))
                    eps = model(x, torch.full((b,), float(t)))[:, :1]
                    x0 = ((x - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-1, 1)
                    x = ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * eps
            w1, c1 = clock()
            out = {'wall': w1 - w0, 'cpu': c1 - c0, 'images': b}
        elif op == 'rss':
            out = {'maxRssKiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
        elif op == 'quit':
            return
        print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()
