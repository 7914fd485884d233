"""Golden optimizer trajectories from PyTorch 1.13 (single-tensor, foreach=False).

Run with Debian's interpreter (the one that sees python3-torch):
    /usr/bin/python3 packages/torch/test/golden/optim_gen.py
Writes optim_golden.json next to this file. Every tensor is float32; values are listed flat in
row-major order (a float32 printed by Python's repr parses back to the same float32).
"""
import json
import os

import torch

torch.manual_seed(0)
STEPS = 10
P0 = torch.randn(3, 4)
P1 = torch.randn(4)
# Gradient scales vary from step to step so AMSGrad's running max actually matters.
SCALES = [1.0, 2.0, 0.5, 0.1, 3.0, 0.2, 1.0, 0.05, 0.5, 1.0]
GRADS = [[torch.randn(3, 4) * s, torch.randn(4) * s] for s in SCALES]
# In the "skip" cases parameter 1 has no gradient at these (1-based) steps, so PyTorch skips it.
SKIP_STEPS = {3, 7}


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def run(make, groups=None, skip=False):
    p0 = P0.clone().requires_grad_(True)
    p1 = P1.clone().requires_grad_(True)
    opt = make([p0, p1] if groups is None else groups(p0, p1))
    trajectory = []
    for t in range(STEPS):
        p0.grad = GRADS[t][0].clone()
        p1.grad = None if (skip and t + 1 in SKIP_STEPS) else GRADS[t][1].clone()
        opt.step()
        trajectory.append([flat(p0), flat(p1)])
    sd = opt.state_dict()
    state = {}
    for idx, s in sd['state'].items():
        state[str(idx)] = {
            k: (float(v.item()) if k == 'step' else flat(v))
            for k, v in s.items()
            if v is not None
        }
    return {'trajectory': trajectory, 'state': state}


def sgd(**kw):
    return lambda params: torch.optim.SGD(params, foreach=False, **kw)


def adam(**kw):
    return lambda params: torch.optim.Adam(params, foreach=False, **kw)


def adamw(**kw):
    return lambda params: torch.optim.AdamW(params, foreach=False, **kw)


CASES = {
    # name: (constructor options as our TypeScript API spells them, PyTorch factory, groups, skip)
    'sgd_plain': ('SGD', {'lr': 0.1}, sgd(lr=0.1), None, False),
    'sgd_momentum': ('SGD', {'lr': 0.05, 'momentum': 0.9, 'dampening': 0.1},
                     sgd(lr=0.05, momentum=0.9, dampening=0.1), None, False),
    'sgd_nesterov': ('SGD', {'lr': 0.05, 'momentum': 0.9, 'nesterov': True, 'weightDecay': 0.01},
                     sgd(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01), None, False),
    'sgd_weight_decay_maximize': ('SGD', {'lr': 0.1, 'weightDecay': 0.1, 'maximize': True},
                                  sgd(lr=0.1, weight_decay=0.1, maximize=True), None, False),
    'sgd_momentum_skip': ('SGD', {'lr': 0.05, 'momentum': 0.8},
                          sgd(lr=0.05, momentum=0.8), None, True),
    'adam': ('Adam', {'lr': 1e-2}, adam(lr=1e-2), None, False),
    'adam_amsgrad': ('Adam', {'lr': 1e-2, 'betas': [0.8, 0.9], 'amsgrad': True},
                     adam(lr=1e-2, betas=(0.8, 0.9), amsgrad=True), None, False),
    'adam_weight_decay': ('Adam', {'lr': 1e-2, 'weightDecay': 0.1, 'eps': 1e-6},
                          adam(lr=1e-2, weight_decay=0.1, eps=1e-6), None, False),
    'adam_maximize': ('Adam', {'lr': 3e-2, 'maximize': True}, adam(lr=3e-2, maximize=True), None, False),
    'adamw': ('AdamW', {'lr': 1e-2}, adamw(lr=1e-2), None, False),
    'adamw_amsgrad_skip': ('AdamW', {'lr': 2e-2, 'weightDecay': 0.1, 'amsgrad': True},
                           adamw(lr=2e-2, weight_decay=0.1, amsgrad=True), None, True),
}

# Two parameter groups with their own options (group 2 overrides lr and weight decay).
GROUP_CASES = {
    'adam_groups': ('Adam', {'lr': 1e-2}, [{}, {'lr': 5e-3, 'weightDecay': 0.05}],
                    adam(lr=1e-2), lambda a, b: [{'params': [a]}, {'params': [b], 'lr': 5e-3, 'weight_decay': 0.05}]),
    'sgd_groups': ('SGD', {'lr': 0.1, 'momentum': 0.9}, [{}, {'lr': 0.01, 'nesterov': True}],
                   sgd(lr=0.1, momentum=0.9), lambda a, b: [{'params': [a]}, {'params': [b], 'lr': 0.01, 'nesterov': True}]),
}


def clip_cases():
    torch.manual_seed(1)
    grads = [torch.randn(3, 4) * 0.7, torch.randn(5) * 1.3, torch.randn(2, 2) * 0.2]
    out = {'grads': [flat(g) for g in grads], 'shapes': [list(g.shape) for g in grads], 'norm': [], 'value': []}
    # (max_norm, norm_type, scale of the gradients); the tiny case makes clip_grad_norm_'s +1e-6 matter.
    for max_norm, norm_type, scale in [(1.0, 2.0, 1.0), (100.0, 2.0, 1.0), (0.5, float('inf'), 1.0), (2.0, 1.0, 1.0),
                                       (1.5, 3.0, 1.0), (1e-7, 2.0, 1e-6)]:
        ps = [torch.zeros_like(g, requires_grad=True) for g in grads]
        for p, g in zip(ps, grads):
            p.grad = g.clone() * scale
        total = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type)
        out['norm'].append({
            'maxNorm': max_norm,
            'scale': scale,
            'normType': 'inf' if norm_type == float('inf') else norm_type,
            'total': float(total.item()),
            'clipped': [flat(p.grad) for p in ps],
        })
    ps = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(ps, grads):
        p.grad = g.clone()
    torch.nn.utils.clip_grad_value_(ps, 0.3)
    out['value'].append({'clipValue': 0.3, 'clipped': [flat(p.grad) for p in ps]})
    return out


def main():
    golden = {
        'torch': torch.__version__,
        'steps': STEPS,
        'skipSteps': sorted(SKIP_STEPS),
        'params': [flat(P0), flat(P1)],
        'shapes': [list(P0.shape), list(P1.shape)],
        'grads': [[flat(g0), flat(g1)] for g0, g1 in GRADS],
        'cases': {},
        'clip': clip_cases(),
    }
    for name, (kind, options, make, groups, skip) in CASES.items():
        golden['cases'][name] = {'optimizer': kind, 'options': options, 'skip': skip, **run(make, groups, skip)}
    for name, (kind, options, group_options, make, groups) in GROUP_CASES.items():
        golden['cases'][name] = {'optimizer': kind, 'options': options, 'groups': group_options, 'skip': False,
                                 **run(make, groups)}
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, 'optim_golden.json'), 'w') as f:
        json.dump(golden, f, separators=(',', ':'))
        f.write('\n')


if __name__ == '__main__':
    main()
