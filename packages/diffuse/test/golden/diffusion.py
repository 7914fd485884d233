#!/usr/bin/python3
"""Golden values for packages/diffuse/test/diffusion*.test.ts.

A float64 re-implementation of openai/improved-diffusion's gaussian_diffusion.py, losses.py and
respace.py (space_timesteps, SpacedDiffusion) as quoted in seed 000, extended the way newer
codebases do: v-prediction (diffusers' get_velocity / v_prediction step), min-SNR-gamma weights
(Hang et al. 2023, as diffusers' train_text_to_image.py), L1/Huber simple losses, and the
quadratic/sigmoid schedules (The Annotated Diffusion Model) and zero-terminal-SNR rescaling (Lin
et al. 2023, Algorithm 1). Run with Debian's torch:  /usr/bin/python3 diffusion.py  (writes
diffusion.json next to this file).
"""
import json
import math
import os

import numpy as np
import torch as th

th.set_default_dtype(th.float64)
HERE = os.path.dirname(os.path.abspath(__file__))

MEAN_TYPES = ["previous_x", "start_x", "epsilon", "v"]
VAR_TYPES = ["learned", "fixed_small", "fixed_large", "learned_range"]
LOSS_TYPES = ["mse", "rescaled_mse", "kl", "rescaled_kl", "l1", "huber"]


# ---- schedules -------------------------------------------------------------------------------

def betas_for_alpha_bar(num_diffusion_timesteps, alpha_bar, max_beta=0.999):
    betas = []
    for i in range(num_diffusion_timesteps):
        t1 = i / num_diffusion_timesteps
        t2 = (i + 1) / num_diffusion_timesteps
        betas.append(min(1 - alpha_bar(t2) / alpha_bar(t1), max_beta))
    return np.array(betas)


def get_named_beta_schedule(schedule_name, num_diffusion_timesteps):
    scale = 1000 / num_diffusion_timesteps
    beta_start, beta_end = scale * 0.0001, scale * 0.02
    if schedule_name == "linear":
        return np.linspace(beta_start, beta_end, num_diffusion_timesteps, dtype=np.float64)
    if schedule_name == "cosine":
        return betas_for_alpha_bar(
            num_diffusion_timesteps, lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
        )
    if schedule_name == "quadratic":  # The Annotated Diffusion Model
        return (th.linspace(beta_start ** 0.5, beta_end ** 0.5, num_diffusion_timesteps) ** 2).numpy()
    if schedule_name == "sigmoid":
        b = th.linspace(-6, 6, num_diffusion_timesteps)
        return (th.sigmoid(b) * (beta_end - beta_start) + beta_start).numpy()
    raise NotImplementedError(schedule_name)


def rescale_zero_terminal_snr(betas):  # Lin et al. 2023, Algorithm 1
    betas = th.tensor(betas)
    alphas = 1 - betas
    alphas_bar = alphas.cumprod(0)
    alphas_bar_sqrt = alphas_bar.sqrt()
    a0 = alphas_bar_sqrt[0].clone()
    aT = alphas_bar_sqrt[-1].clone()
    alphas_bar_sqrt -= aT
    alphas_bar_sqrt *= a0 / (a0 - aT)
    alphas_bar = alphas_bar_sqrt ** 2
    alphas = alphas_bar[1:] / alphas_bar[:-1]
    alphas = th.cat([alphas_bar[0:1], alphas])
    return (1 - alphas).numpy()


# ---- losses.py -------------------------------------------------------------------------------

def normal_kl(mean1, logvar1, mean2, logvar2):
    tensor = None
    for obj in (mean1, logvar1, mean2, logvar2):
        if isinstance(obj, th.Tensor):
            tensor = obj
            break
    logvar1, logvar2 = [x if isinstance(x, th.Tensor) else th.tensor(x).to(tensor) for x in (logvar1, logvar2)]
    return 0.5 * (-1.0 + logvar2 - logvar1 + th.exp(logvar1 - logvar2) + ((mean1 - mean2) ** 2) * th.exp(-logvar2))


def approx_standard_normal_cdf(x):
    return 0.5 * (1.0 + th.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * th.pow(x, 3))))


def discretized_gaussian_log_likelihood(x, *, means, log_scales):
    centered_x = x - means
    inv_stdv = th.exp(-log_scales)
    plus_in = inv_stdv * (centered_x + 1.0 / 255.0)
    cdf_plus = approx_standard_normal_cdf(plus_in)
    min_in = inv_stdv * (centered_x - 1.0 / 255.0)
    cdf_min = approx_standard_normal_cdf(min_in)
    log_cdf_plus = th.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = th.log((1.0 - cdf_min).clamp(min=1e-12))
    cdf_delta = cdf_plus - cdf_min
    return th.where(
        x < -0.999,
        log_cdf_plus,
        th.where(x > 0.999, log_one_minus_cdf_min, th.log(cdf_delta.clamp(min=1e-12))),
    )


def mean_flat(tensor):
    return tensor.mean(dim=list(range(1, len(tensor.shape))))


# ---- gaussian_diffusion.py (float64 throughout) ------------------------------------------------

def _extract_into_tensor(arr, timesteps, broadcast_shape):
    res = th.from_numpy(np.asarray(arr, dtype=np.float64))[timesteps]
    while len(res.shape) < len(broadcast_shape):
        res = res[..., None]
    return res.expand(broadcast_shape)


class GaussianDiffusion:
    def __init__(self, *, betas, model_mean_type, model_var_type, loss_type, rescale_timesteps=False, min_snr_gamma=None):
        self.model_mean_type = model_mean_type
        self.model_var_type = model_var_type
        self.loss_type = loss_type
        self.rescale_timesteps = rescale_timesteps
        self.min_snr_gamma = min_snr_gamma
        betas = np.array(betas, dtype=np.float64)
        self.betas = betas
        self.num_timesteps = int(betas.shape[0])
        alphas = 1.0 - betas
        self.alphas_cumprod = np.cumprod(alphas, axis=0)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        self.alphas_cumprod_next = np.append(self.alphas_cumprod[1:], 0.0)
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
        self.log_one_minus_alphas_cumprod = np.log(1.0 - self.alphas_cumprod)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod - 1)
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_log_variance_clipped = np.log(np.append(self.posterior_variance[1], self.posterior_variance[1:]))
        self.posterior_mean_coef1 = betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - self.alphas_cumprod)

    def learns_sigma(self):
        return self.model_var_type in ("learned", "learned_range")

    def q_mean_variance(self, x_start, t):
        mean = _extract_into_tensor(self.sqrt_alphas_cumprod, t, x_start.shape) * x_start
        variance = _extract_into_tensor(1.0 - self.alphas_cumprod, t, x_start.shape)
        log_variance = _extract_into_tensor(self.log_one_minus_alphas_cumprod, t, x_start.shape)
        return mean, variance, log_variance

    def q_sample(self, x_start, t, noise):
        return (_extract_into_tensor(self.sqrt_alphas_cumprod, t, x_start.shape) * x_start
                + _extract_into_tensor(self.sqrt_one_minus_alphas_cumprod, t, x_start.shape) * noise)

    def q_posterior_mean_variance(self, x_start, x_t, t):
        posterior_mean = (_extract_into_tensor(self.posterior_mean_coef1, t, x_t.shape) * x_start
                          + _extract_into_tensor(self.posterior_mean_coef2, t, x_t.shape) * x_t)
        posterior_variance = _extract_into_tensor(self.posterior_variance, t, x_t.shape)
        posterior_log_variance_clipped = _extract_into_tensor(self.posterior_log_variance_clipped, t, x_t.shape)
        return posterior_mean, posterior_variance, posterior_log_variance_clipped

    def _scale_timesteps(self, t):
        if self.rescale_timesteps:
            return t.float() * (1000.0 / self.num_timesteps)
        return t

    def _wrap(self, model):
        return lambda x, t, **kw: model(x, self._scale_timesteps(t), **kw)

    def p_mean_variance(self, model, x, t, clip_denoised=True, denoised_fn=None, model_kwargs=None):
        model_output = self._wrap(model)(x, t, **(model_kwargs or {}))
        return self.p_mean_variance_from_output(model_output, x, t, clip_denoised, denoised_fn)

    def p_mean_variance_from_output(self, model_output, x, t, clip_denoised=True, denoised_fn=None):
        B, C = x.shape[:2]
        if self.learns_sigma():
            assert model_output.shape == (B, C * 2, *x.shape[2:])
            model_output, model_var_values = th.split(model_output, C, dim=1)
            if self.model_var_type == "learned":
                model_log_variance = model_var_values
                model_variance = th.exp(model_log_variance)
            else:
                min_log = _extract_into_tensor(self.posterior_log_variance_clipped, t, x.shape)
                max_log = _extract_into_tensor(np.log(self.betas), t, x.shape)
                frac = (model_var_values + 1) / 2
                model_log_variance = frac * max_log + (1 - frac) * min_log
                model_variance = th.exp(model_log_variance)
        else:
            model_variance, model_log_variance = {
                "fixed_large": (
                    np.append(self.posterior_variance[1], self.betas[1:]),
                    np.log(np.append(self.posterior_variance[1], self.betas[1:])),
                ),
                "fixed_small": (self.posterior_variance, self.posterior_log_variance_clipped),
            }[self.model_var_type]
            model_variance = _extract_into_tensor(model_variance, t, x.shape)
            model_log_variance = _extract_into_tensor(model_log_variance, t, x.shape)

        def process_xstart(x):
            if denoised_fn is not None:
                x = denoised_fn(x)
            if clip_denoised:
                return x.clamp(-1, 1)
            return x

        if self.model_mean_type == "previous_x":
            pred_xstart = process_xstart(self._predict_xstart_from_xprev(x_t=x, t=t, xprev=model_output))
            model_mean = model_output
        else:
            if self.model_mean_type == "start_x":
                pred_xstart = process_xstart(model_output)
            elif self.model_mean_type == "epsilon":
                pred_xstart = process_xstart(self._predict_xstart_from_eps(x_t=x, t=t, eps=model_output))
            else:  # v: diffusers' pred_original_sample = sqrt(a) x_t - sqrt(1 - a) v
                ab = _extract_into_tensor(self.alphas_cumprod, t, x.shape)
                pred_xstart = process_xstart(ab ** 0.5 * x - (1 - ab) ** 0.5 * model_output)
            model_mean, _, _ = self.q_posterior_mean_variance(x_start=pred_xstart, x_t=x, t=t)
        return {"mean": model_mean, "variance": model_variance, "log_variance": model_log_variance,
                "pred_xstart": pred_xstart}

    def _predict_xstart_from_eps(self, x_t, t, eps):
        return (_extract_into_tensor(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t
                - _extract_into_tensor(self.sqrt_recipm1_alphas_cumprod, t, x_t.shape) * eps)

    def _predict_xstart_from_xprev(self, x_t, t, xprev):
        return (_extract_into_tensor(1.0 / self.posterior_mean_coef1, t, x_t.shape) * xprev
                - _extract_into_tensor(self.posterior_mean_coef2 / self.posterior_mean_coef1, t, x_t.shape) * x_t)

    def _predict_eps_from_xstart(self, x_t, t, pred_xstart):
        return ((_extract_into_tensor(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t - pred_xstart)
                / _extract_into_tensor(self.sqrt_recipm1_alphas_cumprod, t, x_t.shape))

    def p_sample(self, model, x, t, noise, clip_denoised=True):
        out = self.p_mean_variance(model, x, t, clip_denoised=clip_denoised)
        nonzero_mask = (t != 0).to(x.dtype).view(-1, *([1] * (len(x.shape) - 1)))
        sample = out["mean"] + nonzero_mask * th.exp(0.5 * out["log_variance"]) * noise
        return {"sample": sample, "pred_xstart": out["pred_xstart"]}

    def p_sample_loop(self, model, shape, generator, clip_denoised=True):
        img = th.randn(*shape, generator=generator)
        for i in list(range(self.num_timesteps))[::-1]:
            t = th.tensor([i] * shape[0])
            noise = th.randn(img.shape, generator=generator)
            img = self.p_sample(model, img, t, noise, clip_denoised)["sample"]
        return img

    def ddim_sample(self, model, x, t, noise, clip_denoised=True, eta=0.0):
        out = self.p_mean_variance(model, x, t, clip_denoised=clip_denoised)
        eps = self._predict_eps_from_xstart(x, t, out["pred_xstart"])
        alpha_bar = _extract_into_tensor(self.alphas_cumprod, t, x.shape)
        alpha_bar_prev = _extract_into_tensor(self.alphas_cumprod_prev, t, x.shape)
        sigma = eta * th.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar)) * th.sqrt(1 - alpha_bar / alpha_bar_prev)
        mean_pred = out["pred_xstart"] * th.sqrt(alpha_bar_prev) + th.sqrt(1 - alpha_bar_prev - sigma ** 2) * eps
        nonzero_mask = (t != 0).to(x.dtype).view(-1, *([1] * (len(x.shape) - 1)))
        sample = mean_pred + nonzero_mask * sigma * noise
        return {"sample": sample, "pred_xstart": out["pred_xstart"]}

    def ddim_reverse_sample(self, model, x, t, clip_denoised=True):
        out = self.p_mean_variance(model, x, t, clip_denoised=clip_denoised)
        eps = (_extract_into_tensor(self.sqrt_recip_alphas_cumprod, t, x.shape) * x - out["pred_xstart"]) \
            / _extract_into_tensor(self.sqrt_recipm1_alphas_cumprod, t, x.shape)
        alpha_bar_next = _extract_into_tensor(self.alphas_cumprod_next, t, x.shape)
        mean_pred = out["pred_xstart"] * th.sqrt(alpha_bar_next) + th.sqrt(1 - alpha_bar_next) * eps
        return {"sample": mean_pred, "pred_xstart": out["pred_xstart"]}

    def ddim_sample_loop(self, model, shape, generator, clip_denoised=True, eta=0.0):
        img = th.randn(*shape, generator=generator)
        for i in list(range(self.num_timesteps))[::-1]:
            t = th.tensor([i] * shape[0])
            noise = th.randn(img.shape, generator=generator)
            img = self.ddim_sample(model, img, t, noise, clip_denoised, eta)["sample"]
        return img

    def _vb_terms_bpd_from_out(self, out, x_start, x_t, t):
        true_mean, _, true_log_variance_clipped = self.q_posterior_mean_variance(x_start=x_start, x_t=x_t, t=t)
        kl = normal_kl(true_mean, true_log_variance_clipped, out["mean"], out["log_variance"])
        kl = mean_flat(kl) / np.log(2.0)
        decoder_nll = -discretized_gaussian_log_likelihood(x_start, means=out["mean"], log_scales=0.5 * out["log_variance"])
        decoder_nll = mean_flat(decoder_nll) / np.log(2.0)
        return th.where((t == 0), decoder_nll, kl)

    def _vb_terms_bpd(self, model, x_start, x_t, t, clip_denoised=True, model_kwargs=None):
        out = self.p_mean_variance(model, x_t, t, clip_denoised=clip_denoised, model_kwargs=model_kwargs)
        return {"output": self._vb_terms_bpd_from_out(out, x_start, x_t, t), "pred_xstart": out["pred_xstart"]}

    def _loss_weight(self, t):
        snr = th.from_numpy(self.alphas_cumprod / (1 - self.alphas_cumprod))[t]
        w = th.stack([snr, self.min_snr_gamma * th.ones_like(snr)], dim=1).min(dim=1)[0]
        if self.model_mean_type == "epsilon":
            return w / snr
        if self.model_mean_type == "v":
            return w / (snr + 1)
        return w

    def training_losses(self, model, x_start, t, noise):
        x_t = self.q_sample(x_start, t, noise=noise)
        terms = {}
        if self.loss_type in ("kl", "rescaled_kl"):
            terms["loss"] = self._vb_terms_bpd(model=model, x_start=x_start, x_t=x_t, t=t, clip_denoised=False)["output"]
            if self.loss_type == "rescaled_kl":
                terms["loss"] *= self.num_timesteps
            return terms
        model_output = self._wrap(model)(x_t, t)
        if self.learns_sigma():
            B, C = x_t.shape[:2]
            model_output, model_var_values = th.split(model_output, C, dim=1)
            frozen_out = th.cat([model_output.detach(), model_var_values], dim=1)
            out = self.p_mean_variance_from_output(frozen_out, x_t, t, clip_denoised=False)
            terms["vb"] = self._vb_terms_bpd_from_out(out, x_start, x_t, t)
            if self.loss_type == "rescaled_mse":
                terms["vb"] *= self.num_timesteps / 1000.0
        ab = _extract_into_tensor(self.alphas_cumprod, t, x_start.shape)
        target = {
            "previous_x": self.q_posterior_mean_variance(x_start=x_start, x_t=x_t, t=t)[0],
            "start_x": x_start,
            "epsilon": noise,
            "v": ab ** 0.5 * noise - (1 - ab) ** 0.5 * x_start,  # diffusers' get_velocity
        }[self.model_mean_type]
        if self.loss_type == "l1":
            dist = (target - model_output).abs()
        elif self.loss_type == "huber":
            dist = th.nn.functional.huber_loss(model_output, target, reduction="none", delta=1.0)
        else:
            dist = (target - model_output) ** 2
        terms["mse"] = mean_flat(dist)
        weighted = terms["mse"] * self._loss_weight(t) if self.min_snr_gamma is not None else terms["mse"]
        terms["loss"] = weighted + terms["vb"] if "vb" in terms else weighted
        return terms

    def _prior_bpd(self, x_start):
        t = th.tensor([self.num_timesteps - 1] * x_start.shape[0])
        qt_mean, _, qt_log_variance = self.q_mean_variance(x_start, t)
        kl_prior = normal_kl(mean1=qt_mean, logvar1=qt_log_variance, mean2=0.0, logvar2=0.0)
        return mean_flat(kl_prior) / np.log(2.0)

    def calc_bpd_loop(self, model, x_start, generator, clip_denoised=True):
        vb, xstart_mse, mse = [], [], []
        for t in list(range(self.num_timesteps))[::-1]:
            t_batch = th.tensor([t] * x_start.shape[0])
            noise = th.randn(x_start.shape, generator=generator)
            x_t = self.q_sample(x_start=x_start, t=t_batch, noise=noise)
            out = self._vb_terms_bpd(model, x_start=x_start, x_t=x_t, t=t_batch, clip_denoised=clip_denoised)
            vb.append(out["output"])
            xstart_mse.append(mean_flat((out["pred_xstart"] - x_start) ** 2))
            eps = self._predict_eps_from_xstart(x_t, t_batch, out["pred_xstart"])
            mse.append(mean_flat((eps - noise) ** 2))
        vb = th.stack(vb, dim=1)
        xstart_mse = th.stack(xstart_mse, dim=1)
        mse = th.stack(mse, dim=1)
        prior_bpd = self._prior_bpd(x_start)
        total_bpd = vb.sum(dim=1) + prior_bpd
        return {"total_bpd": total_bpd, "prior_bpd": prior_bpd, "vb": vb, "xstart_mse": xstart_mse, "mse": mse}


# ---- respace.py --------------------------------------------------------------------------------

def space_timesteps(num_timesteps, section_counts):
    if isinstance(section_counts, str):
        if section_counts.startswith("ddim"):
            desired_count = int(section_counts[len("ddim"):])
            for i in range(1, num_timesteps):
                if len(range(0, num_timesteps, i)) == desired_count:
                    return set(range(0, num_timesteps, i))
            raise ValueError(f"cannot create exactly {num_timesteps} steps with an integer stride")
        section_counts = [int(x) for x in section_counts.split(",")]
    size_per = num_timesteps // len(section_counts)
    extra = num_timesteps % len(section_counts)
    start_idx = 0
    all_steps = []
    for i, section_count in enumerate(section_counts):
        size = size_per + (1 if i < extra else 0)
        if size < section_count:
            raise ValueError(f"cannot divide section of {size} steps into {section_count}")
        frac_stride = 1 if section_count <= 1 else (size - 1) / (section_count - 1)
        cur_idx = 0.0
        taken_steps = []
        for _ in range(section_count):
            taken_steps.append(start_idx + round(cur_idx))
            cur_idx += frac_stride
        all_steps += taken_steps
        start_idx += size
    return set(all_steps)


class SpacedDiffusion(GaussianDiffusion):
    def __init__(self, use_timesteps, **kwargs):
        self.use_timesteps = set(use_timesteps)
        self.timestep_map = []
        self.original_num_steps = len(kwargs["betas"])
        base_diffusion = GaussianDiffusion(**kwargs)
        last_alpha_cumprod = 1.0
        new_betas = []
        for i, alpha_cumprod in enumerate(base_diffusion.alphas_cumprod):
            if i in self.use_timesteps:
                new_betas.append(1 - alpha_cumprod / last_alpha_cumprod)
                last_alpha_cumprod = alpha_cumprod
                self.timestep_map.append(i)
        kwargs["betas"] = np.array(new_betas)
        super().__init__(**kwargs)

    def _wrap(self, model):
        def wrapped(x, ts, **kwargs):
            new_ts = th.tensor(self.timestep_map, dtype=ts.dtype)[ts]
            if self.rescale_timesteps:
                new_ts = new_ts.float() * (1000.0 / self.original_num_steps)
            return model(x, new_ts, **kwargs)
        return wrapped

    def _scale_timesteps(self, t):
        return t


# ---- the fake model and inputs -----------------------------------------------------------------

A = [0.8, -0.6, 0.5, -0.4]
B_ = [0.3, -0.7, 1.2, -0.9]


def fake_model(out_channels, t_scale):
    """out = tanh(a * repeat(x) + b * t / t_scale), per output channel (a, b fixed)."""
    a = th.tensor(A[:out_channels]).view(1, -1, 1, 1)
    b = th.tensor(B_[:out_channels]).view(1, -1, 1, 1)

    def model(x, t, **kwargs):
        xr = x.repeat(1, out_channels // x.shape[1], 1, 1)
        tt = t.to(x.dtype).view(-1, 1, 1, 1) / t_scale
        return th.tanh(xr * a + tt * b)
    return model


def rounded(v):
    """13 significant digits: far below the tests' 1e-6 tolerance, and a third smaller file."""
    if isinstance(v, float):
        return float("%.13g" % v)
    if isinstance(v, dict):
        return {k: rounded(x) for k, x in v.items()}
    if isinstance(v, list):
        return [rounded(x) for x in v]
    return v


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def main():
    gen = th.Generator().manual_seed(1234)
    shape = (4, 2, 3, 3)
    # x_0 on the 256-level grid of [-1, 1], with both edge bins present.
    x_start = th.randint(0, 256, shape, generator=gen).to(th.float64) / 127.5 - 1
    x_start.view(-1)[:3] = -1.0
    x_start.view(-1)[3:6] = 1.0
    noise = th.randn(shape, generator=gen)
    x = th.randn(shape, generator=gen) * 1.2
    T = 100
    t = th.tensor([0, 1, 50, 99])
    betas = get_named_beta_schedule("linear", T)
    out = {"inputs": {"shape": list(shape), "xStart": flat(x_start), "noise": flat(noise), "x": flat(x),
                      "t": t.tolist(), "T": T, "a": A, "b": B_, "tScale": 100}}

    # schedules and tables
    out["schedules"] = {name: {str(n): get_named_beta_schedule(name, n).tolist() for n in (10, 50)}
                        for name in ("linear", "cosine", "quadratic", "sigmoid")}
    out["zeroSnr"] = {"cosine50": rescale_zero_terminal_snr(get_named_beta_schedule("cosine", 50)).tolist(),
                      "linear50": rescale_zero_terminal_snr(get_named_beta_schedule("linear", 50)).tolist()}
    d = GaussianDiffusion(betas=betas, model_mean_type="epsilon", model_var_type="fixed_small", loss_type="mse")
    out["tables"] = {k: getattr(d, snake).tolist() for k, snake in [
        ("alphasCumprod", "alphas_cumprod"), ("alphasCumprodPrev", "alphas_cumprod_prev"),
        ("alphasCumprodNext", "alphas_cumprod_next"), ("sqrtAlphasCumprod", "sqrt_alphas_cumprod"),
        ("sqrtOneMinusAlphasCumprod", "sqrt_one_minus_alphas_cumprod"),
        ("logOneMinusAlphasCumprod", "log_one_minus_alphas_cumprod"),
        ("sqrtRecipAlphasCumprod", "sqrt_recip_alphas_cumprod"),
        ("sqrtRecipm1AlphasCumprod", "sqrt_recipm1_alphas_cumprod"), ("posteriorVariance", "posterior_variance"),
        ("posteriorLogVarianceClipped", "posterior_log_variance_clipped"),
        ("posteriorMeanCoef1", "posterior_mean_coef1"), ("posteriorMeanCoef2", "posterior_mean_coef2")]}
    qm, qv, qlv = d.q_mean_variance(x_start, t)
    pm, pv, plv = d.q_posterior_mean_variance(x_start, x, t)
    out["q"] = {"qSample": flat(d.q_sample(x_start, t, noise)), "qMean": flat(qm), "qVariance": flat(qv[:, 0, 0, 0]),
                "qLogVariance": flat(qlv[:, 0, 0, 0]), "postMean": flat(pm), "postVariance": flat(pv[:, 0, 0, 0]),
                "postLogVariance": flat(plv[:, 0, 0, 0]), "priorBpd": flat(d._prior_bpd(x_start))}

    # every mean type x var type (x clip) for p_mean_variance and the VB term; x loss type for losses
    pmv, losses = [], []
    for mt in MEAN_TYPES:
        for vt in VAR_TYPES:
            oc = 4 if vt in ("learned", "learned_range") else 2
            model = fake_model(oc, 100)
            for clip in (True, False):
                dd = GaussianDiffusion(betas=betas, model_mean_type=mt, model_var_type=vt, loss_type="mse")
                r = dd.p_mean_variance(model, x, t, clip_denoised=clip)
                vb = dd._vb_terms_bpd(model, x_start, x, t, clip_denoised=clip)
                pmv.append({"meanType": mt, "varType": vt, "clip": clip, "mean": flat(r["mean"]),
                            "variance": flat(r["variance"]), "logVariance": flat(r["log_variance"]),
                            "predXstart": flat(r["pred_xstart"]), "vb": flat(vb["output"]),
                            "vbPredXstart": flat(vb["pred_xstart"])})
            for lt in LOSS_TYPES:
                for gamma in ([None] if mt == "previous_x" or lt in ("kl", "rescaled_kl") else [None, 5.0]):
                    dd = GaussianDiffusion(betas=betas, model_mean_type=mt, model_var_type=vt, loss_type=lt,
                                           min_snr_gamma=gamma)
                    terms = dd.training_losses(model, x_start, t, noise)
                    losses.append({"meanType": mt, "varType": vt, "lossType": lt, "minSnrGamma": gamma,
                                   **{k: flat(v) for k, v in terms.items()}})
    out["pMeanVariance"] = pmv
    out["trainingLosses"] = losses

    # single sampling steps with given noise
    steps = []
    for mt, vt in [("epsilon", "learned_range"), ("v", "fixed_large"), ("start_x", "fixed_small")]:
        oc = 4 if vt in ("learned", "learned_range") else 2
        model = fake_model(oc, 100)
        dd = GaussianDiffusion(betas=betas, model_mean_type=mt, model_var_type=vt, loss_type="mse")
        steps.append({"meanType": mt, "varType": vt,
                      "pSample": flat(dd.p_sample(model, x, t, noise)["sample"]),
                      "ddim0": flat(dd.ddim_sample(model, x, t, noise, eta=0.0)["sample"]),
                      "ddim05": flat(dd.ddim_sample(model, x, t, noise, eta=0.5)["sample"]),
                      "ddimReverse": flat(dd.ddim_reverse_sample(model, x, t, clip_denoised=False)["sample"])})
    out["steps"] = steps

    # whole loops on a tiny T with a seeded generator (same CPU generator as libtorch)
    small = get_named_beta_schedule("cosine", 10)
    dd = GaussianDiffusion(betas=small, model_mean_type="epsilon", model_var_type="learned_range", loss_type="mse")
    model = fake_model(4, 10)
    loops = {"T": 10, "seed": 7, "pSampleLoop": flat(dd.p_sample_loop(model, shape, th.Generator().manual_seed(7))),
             "ddimSampleLoop": flat(dd.ddim_sample_loop(model, shape, th.Generator().manual_seed(7), eta=0.5))}
    bpd = dd.calc_bpd_loop(model, x_start, th.Generator().manual_seed(7))
    loops["bpd"] = {k: flat(v) for k, v in bpd.items()}
    out["loops"] = loops

    # respacing
    specs = [[1000, "ddim50"], [1000, "ddim3"], [100, "ddim10"], [300, "10,15,20"], [1000, "250"], [1000, [10]],
             [17, "5,4,3"], [1000, "27"], [1000, "1,2,3"], [1000, "ddim1000"], [50, [50]]]
    out["spaceTimesteps"] = [{"T": n, "spec": s, "steps": sorted(space_timesteps(n, s))} for n, s in specs]
    out["spaceTimestepsErrors"] = []
    for n, s in [[100, "ddim40"], [1000, "ddim1"], [10, "6,6"]]:
        try:
            space_timesteps(n, s)
        except ValueError:
            out["spaceTimestepsErrors"].append({"T": n, "spec": s})
    base = get_named_beta_schedule("linear", 1000)
    spaced = []
    for s in ["ddim50", "25,10"]:
        sd = SpacedDiffusion(space_timesteps(1000, s), betas=base, model_mean_type="epsilon",
                             model_var_type="fixed_small", loss_type="mse")
        spaced.append({"spec": s, "betas": sd.betas.tolist(), "timestepMap": sd.timestep_map})
    out["respacedBetas"] = spaced
    # a spaced diffusion with rescaled timesteps: the model sees mapped, rescaled t
    sd = SpacedDiffusion(space_timesteps(T, "ddim10"), betas=betas, model_mean_type="epsilon",
                         model_var_type="learned_range", loss_type="rescaled_mse", rescale_timesteps=True)
    ts = th.tensor([0, 3, 6, 9])
    model = fake_model(4, 1000)
    r = sd.p_mean_variance(model, x, ts, clip_denoised=False)
    terms = sd.training_losses(model, x_start, ts, noise)
    out["spacedRescaled"] = {"spec": "ddim10", "t": ts.tolist(), "tScale": 1000, "mean": flat(r["mean"]),
                             "logVariance": flat(r["log_variance"]), "predXstart": flat(r["pred_xstart"]),
                             "loss": flat(terms["loss"]), "mse": flat(terms["mse"]), "vb": flat(terms["vb"])}

    with open(os.path.join(HERE, "diffusion.json"), "w") as f:
        json.dump(rounded(out), f, separators=(",", ":"))


if __name__ == "__main__":
    main()
