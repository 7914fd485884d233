#!/usr/bin/python3
"""The PyTorch side of bench/ref28.mjs (not a test): the ref-28 model in PyTorch eager, trained
and sampled as improved-diffusion does, driven over stdin/stdout so that both engines can be
timed in turn (as bench/engine.py is by bench/engine.mjs).

    in:  one JSON request per line          out: one JSON reply per line
    {"op": "setup", "config": TrainConfig}  {"flopsPerImage": ..., "numParameters": ..., "notMirrored": [...]}
    {"op": "train", "steps": 3}             {"wall": s, "cpu": s, "images": 192}
    {"op": "sample", "batch": 64, "steps": 50}  {"wall": s, "cpu": s, "images": 64}
    {"op": "peak", "iters": 5}              {"gflops": best GFLOP/s of a 64×64×56×56 3×3 conv forward}
    {"op": "rss"}                           {"maxRssKiB": peak resident set size of this process}
    {"op": "quit"}

The model is the UNet mirror of packages/diffuse/test/golden/unet_gen.py (imported, not copied).
A training step is improved-diffusion's: uniform timesteps, the hybrid loss (MSE on ε plus the
variational bound with the mean frozen, the bound ×T/1000 for rescaled MSE), backward, gradient
clipping when the config asks (as diffuse's trainer does), AdamW, EMA. Sampling is DDIM (η = 0)
on ε, the first half of the output, with x̂_0 clipped, in eval mode under no_grad. Threads: 2
intra-op; the parent sets OPENBLAS_NUM_THREADS=1.
"""
import json
import math
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'packages', 'diffuse', 'test', 'golden'))
import unet_gen  # noqa: E402  (the UNet mirror)

torch.set_num_threads(2)

# Config paths this mirror honours (the rest of run.* is bookkeeping that costs nothing per step).
MIRRORED = {
    'model.imageSize', 'model.channels', 'model.modelChannels', 'model.numResBlocks', 'model.channelMult',
    'model.attentionDs', 'model.numHeads', 'model.numHeadChannels', 'model.dropout', 'model.useScaleShiftNorm',
    'model.resblockUpdown', 'model.numClasses',
    'diffusion.diffusionSteps', 'diffusion.noiseSchedule', 'diffusion.meanType', 'diffusion.varType', 'diffusion.loss',
    'diffusion.rescaleTimesteps',
    'optim.lr', 'optim.weightDecay', 'optim.batchSize', 'optim.emaRates', 'optim.emaWarmup', 'optim.gradClip',
    'run.seed',
}
# Paths that may hold anything without changing the work per step.
IGNORABLE_PREFIXES = ('run.',)
# Values the mirror cannot follow: it raises rather than benchmark something else.
SUPPORTED = {
    'diffusion.meanType': {'epsilon'},
    'diffusion.varType': {'learned_range'},
    'diffusion.loss': {'rescaled_mse', 'mse'},
    'diffusion.noiseSchedule': {'cosine', 'linear'},
    'diffusion.zeroTerminalSnr': {False},
    'diffusion.minSnrGamma': {0},
    'optim.microbatch': {0},
    'optim.warmupSteps': {0},
    'optim.lrAnnealSteps': {0},
    'optim.classDropout': {0},
    'optim.scheduleSampler': {'uniform'},
    'model.useCheckpoint': {False},
}


def flatten(cfg, prefix=''):
    """{'a': {'b': 1}} → {'a.b': 1} (lists are leaves)."""
    out = {}
    for k, v in cfg.items():
        if isinstance(v, dict):
            out.update(flatten(v, f'{prefix}{k}.'))
        else:
            out[f'{prefix}{k}'] = v
    return out


def not_mirrored(cfg):
    """Config paths the mirror ignores (raises for values it cannot follow)."""
    flat = flatten(cfg)
    for path, allowed in SUPPORTED.items():
        if path in flat and flat[path] not in allowed:
            raise ValueError(f'ref28.py cannot mirror {path}={json.dumps(flat[path])} (supports {sorted(map(str, allowed))})')
    return sorted(p for p in flat if p not in MIRRORED and p not in SUPPORTED and not p.startswith(IGNORABLE_PREFIXES))


# ---- the diffusion (improved-diffusion's GaussianDiffusion, the parts a step uses) -----------


def betas_for(schedule, T):
    """improved-diffusion's get_named_beta_schedule (float64)."""
    if schedule == 'linear':
        scale = 1000 / T
        return np.linspace(scale * 1e-4, scale * 0.02, T, dtype=np.float64)

    def alpha_bar(t):
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    return np.array([min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), 0.999) for i in range(T)], dtype=np.float64)


class Diffusion:
    """The float64 tables of improved-diffusion's GaussianDiffusion, as torch tensors."""

    def __init__(self, cfg):
        d = cfg['diffusion']
        self.T = d['diffusionSteps']
        self.rescale_timesteps = d['rescaleTimesteps']
        self.rescaled = d['loss'] == 'rescaled_mse'
        betas = betas_for(d['noiseSchedule'], self.T)
        ac = np.cumprod(1.0 - betas)
        ac_prev = np.append(1.0, ac[:-1])
        post_var = betas * (1.0 - ac_prev) / (1.0 - ac)
        self.alphas_cumprod = ac
        tables = {
            'sqrt_ac': np.sqrt(ac), 'sqrt_1m_ac': np.sqrt(1.0 - ac),
            'sqrt_recip_ac': np.sqrt(1.0 / ac), 'sqrt_recipm1_ac': np.sqrt(1.0 / ac - 1),
            'post_log_var': np.log(np.append(post_var[1], post_var[1:])),
            'post_coef1': betas * np.sqrt(ac_prev) / (1.0 - ac),
            'post_coef2': (1.0 - ac_prev) * np.sqrt(1.0 - betas) / (1.0 - ac),
            'log_betas': np.log(betas),
        }
        self.tables = {k: torch.from_numpy(v) for k, v in tables.items()}

    def extract(self, name, t, ndim=4):
        """tables[name][t] as float32, shaped (B, 1, 1, 1) to broadcast."""
        return self.tables[name][t].float().reshape(-1, *([1] * (ndim - 1)))

    def model_t(self, t):
        return t.float() * (1000.0 / self.T) if self.rescale_timesteps else t.float()


def normal_kl(mean1, logvar1, mean2, logvar2):
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def approx_standard_normal_cdf(x):
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))


def discretized_gaussian_log_likelihood(x, means, log_scales):
    centered = x - means
    inv_stdv = torch.exp(-log_scales)
    cdf_plus = approx_standard_normal_cdf(inv_stdv * (centered + 1.0 / 255.0))
    cdf_min = approx_standard_normal_cdf(inv_stdv * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_cdf_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_cdf_delta))


def mean_flat(x):
    return x.mean(dim=list(range(1, x.ndim)))


def training_losses(diff, model, x_start, t, kwargs, noise=None):
    """improved-diffusion's training_losses for ε-prediction with a learned-range σ: (B,) losses."""
    noise = torch.randn_like(x_start) if noise is None else noise  # (B, C, H, W)
    x_t = diff.extract('sqrt_ac', t) * x_start + diff.extract('sqrt_1m_ac', t) * noise
    out = model(x_t, diff.model_t(t), **kwargs)  # (B, 2C, H, W)
    eps, v = torch.split(out, x_start.shape[1], dim=1)
    # The bound learns σ only: the mean is frozen.
    eps_frozen = eps.detach()
    frac = (v + 1) / 2
    log_var = frac * diff.extract('log_betas', t) + (1 - frac) * diff.extract('post_log_var', t)
    pred_x0 = diff.extract('sqrt_recip_ac', t) * x_t - diff.extract('sqrt_recipm1_ac', t) * eps_frozen
    model_mean = diff.extract('post_coef1', t) * pred_x0 + diff.extract('post_coef2', t) * x_t
    true_mean = diff.extract('post_coef1', t) * x_start + diff.extract('post_coef2', t) * x_t
    kl = mean_flat(normal_kl(true_mean, diff.extract('post_log_var', t), model_mean, log_var)) / math.log(2.0)
    nll = -mean_flat(discretized_gaussian_log_likelihood(x_start, model_mean, 0.5 * log_var)) / math.log(2.0)
    vb = torch.where(t == 0, nll, kl)  # (B,)
    if diff.rescaled:
        vb = vb * (diff.T / 1000.0)
    mse = mean_flat((noise - eps) ** 2)  # (B,)
    return {'loss': mse + vb, 'mse': mse, 'vb': vb}


# ---- the model and the work ------------------------------------------------------------------


def build_model(cfg):
    m = cfg['model']
    return unet_gen.build(dict(
        inChannels=m['channels'], modelChannels=m['modelChannels'], outChannels=m['channels'], learnSigma=True,
        numResBlocks=m['numResBlocks'], attentionResolutions=m['attentionDs'], dropout=m['dropout'],
        channelMult=m['channelMult'], convResample=True, numClasses=m['numClasses'] or None, numHeads=m['numHeads'],
        numHeadChannels=m['numHeadChannels'], numHeadsUpsample=-1, useScaleShiftNorm=m['useScaleShiftNorm'],
        resblockUpdown=m['resblockUpdown'], useNewAttentionOrder=False))


def forward_flops(model, cfg):
    """Forward FLOPs per image of the model's convolutions, linear layers and attention matmuls
    (2 per multiply-add; normalisations and pointwise ops not counted), from one batch-1 forward
    with hooks."""
    total = [0]

    def conv_hook(mod, _inp, out):
        k = math.prod(mod.kernel_size) * mod.in_channels // mod.groups
        total[0] += 2 * out.numel() * k

    def linear_hook(mod, _inp, out):
        total[0] += 2 * out.numel() * mod.in_features

    def attention_hook(mod, inp, _out):
        bs, width, length = inp[0].shape
        ch = width // (3 * mod.n_heads)
        total[0] += 2 * (2 * bs * mod.n_heads * ch * length * length)  # qᵀk and weight·v

    hooks = []
    for mod in model.modules():
        if isinstance(mod, (nn.Conv1d, nn.Conv2d)):
            hooks.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            hooks.append(mod.register_forward_hook(linear_hook))
        elif isinstance(mod, unet_gen.QKVAttention):
            hooks.append(mod.register_forward_hook(attention_hook))
    s, c = cfg['model']['imageSize'], cfg['model']['channels']
    y = torch.zeros(1, dtype=torch.long) if cfg['model']['numClasses'] else None
    with torch.no_grad():
        model(torch.zeros(1, c, s, s), torch.zeros(1), y)
    for h in hooks:
        h.remove()
    return total[0]


class Trainer:
    """improved-diffusion's TrainLoop step on one fixed in-memory batch."""

    def __init__(self, cfg, model):
        o = cfg['optim']
        self.model, self.diff = model, Diffusion(cfg)
        self.params = list(model.parameters())
        self.opt = torch.optim.AdamW(self.params, lr=o['lr'], weight_decay=o['weightDecay'])
        self.ema_rates, self.ema_warmup = o['emaRates'], o['emaWarmup']
        self.ema = [[p.detach().clone() for p in self.params] for _ in self.ema_rates]
        self.grad_clip = o['gradClip']
        self.batch = o['batchSize']
        m = cfg['model']
        self.x = torch.rand(self.batch, m['channels'], m['imageSize'], m['imageSize']) * 2 - 1  # (B, C, H, W)
        self.kwargs = {'y': torch.zeros(self.batch, dtype=torch.long)} if m['numClasses'] else {}
        self.step_count = 0
        model.train()

    def step(self):
        self.model.zero_grad(set_to_none=True)
        t = torch.randint(0, self.diff.T, (self.batch,))  # uniform schedule sampler, weights 1
        losses = training_losses(self.diff, self.model, self.x, t, self.kwargs)
        loss = losses['loss'].mean()
        loss.backward()
        for v in losses.values():  # improved-diffusion's log_loss_dict
            v.mean().item()
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        self.opt.step()
        with torch.no_grad():
            for rate, shadow in zip(self.ema_rates, self.ema):
                d = min(rate, (1 + self.step_count) / (10 + self.step_count)) if self.ema_warmup else rate
                for s, p in zip(shadow, self.params):
                    s.mul_(d).add_(p, alpha=1 - d)
        self.step_count += 1


def ddim_timesteps(T, n):
    """improved-diffusion's space_timesteps(T, [n]) (one section)."""
    if n == 1:
        return [T - 1]
    stride = (T - 1) / (n - 1)
    return [round(i * stride) for i in range(n)]


class Sampler:
    """DDIM (η = 0) on ε with x̂_0 clipped to [−1, 1] (improved-diffusion's ddim_sample_loop)."""

    def __init__(self, cfg, model):
        self.model, self.diff = model, Diffusion(cfg)
        self.shape = (cfg['model']['channels'], cfg['model']['imageSize'], cfg['model']['imageSize'])
        self.num_classes = cfg['model']['numClasses']
        self.gen = torch.Generator().manual_seed(cfg['run']['seed'])
        model.eval()

    @torch.no_grad()
    def sample(self, batch, steps):
        ac = self.diff.alphas_cumprod
        ts = ddim_timesteps(self.diff.T, steps)
        kwargs = {'y': torch.zeros(batch, dtype=torch.long)} if self.num_classes else {}
        x = torch.randn(batch, *self.shape, generator=self.gen)  # (B, C, H, W)
        for k in range(len(ts) - 1, -1, -1):
            ab, ab_prev = float(ac[ts[k]]), (float(ac[ts[k - 1]]) if k > 0 else 1.0)
            t = torch.full((batch,), ts[k], dtype=torch.long)
            out = self.model(x, self.diff.model_t(t), **kwargs)  # (B, 2C, H, W)
            eps = out[:, :self.shape[0]]
            x0 = (math.sqrt(1 / ab) * x - math.sqrt(1 / ab - 1) * eps).clamp(-1, 1)
            eps = (math.sqrt(1 / ab) * x - x0) / math.sqrt(1 / ab - 1)
            x = math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps
        return ((x + 1) * 127.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def conv_peak(iters):
    """Best GFLOP/s of a 64×64×56×56, 64→64 3×3 float32 convolution forward."""
    x, w = torch.randn(64, 64, 56, 56), torch.randn(64, 64, 3, 3)
    flops = 2 * 64 * 64 * 9 * 56 * 56 * 64
    best = 0.0
    with torch.no_grad():
        F.conv2d(x, w, padding=1)  # warm-up
        for _ in range(iters):
            t0 = time.perf_counter()
            F.conv2d(x, w, padding=1)
            best = max(best, flops / (time.perf_counter() - t0) / 1e9)
    return best


def timed(fn, images):
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return {'wall': time.perf_counter() - t0, 'cpu': time.process_time() - c0, 'images': images}


def main():
    reply({'ready': True, 'torch': torch.__version__, 'threads': torch.get_num_threads()})
    state = {}
    for line in sys.stdin:
        req = json.loads(line)
        op = req['op']
        if op == 'quit':
            break
        if op == 'setup':
            cfg = state['cfg'] = req['config']
            ignored = not_mirrored(cfg)
            torch.manual_seed(cfg['run']['seed'])
            model = state['model'] = build_model(cfg)
            reply({'flopsPerImage': forward_flops(model, cfg), 'numParameters': sum(p.numel() for p in model.parameters()),
                   'notMirrored': ignored})
        elif op == 'train':
            if 'trainer' not in state:
                state['trainer'] = Trainer(state['cfg'], state['model'])
            trainer = state['trainer']

            def run():
                for _ in range(req['steps']):
                    trainer.step()

            reply(timed(run, req['steps'] * trainer.batch))
        elif op == 'sample':
            if 'sampler' not in state:
                state['sampler'] = Sampler(state['cfg'], state['model'])
            sampler = state['sampler']
            reply(timed(lambda: sampler.sample(req['batch'], req['steps']), req['batch']))
        elif op == 'peak':
            reply({'gflops': conv_peak(req['iters'])})
        elif op == 'rss':
            reply({'maxRssKiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})
        else:
            raise ValueError(f'unknown op {op}')


def reply(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


if __name__ == '__main__':
    main()
