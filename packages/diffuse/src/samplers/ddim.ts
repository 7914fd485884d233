// DDIM (Song, Meng & Ermon 2021): the non-Markovian reverse process of eq. 12 over a timestep
// subsequence τ, with η interpolating between deterministic DDIM (η = 0) and DDPM-like noise
// (η = 1, eq. 16); and its deterministic inversion x_0 → x_T (the ODE of sec. 4.3 run forward).
import type { Tensor } from '@diffuse/torch';
import type { ModelKwargs } from '../diffusion/enums.js';
import { predict, type DiffusionModelSpec } from './denoiser.js';
import { sigmaBounds } from './grids.js';
import { runToEnd } from './loop.js';
import { gaussianLike } from './noise.js';
import { DiscreteSigmas } from './sigmas.js';
import { samplerTimesteps, timestepRange, type TimestepSpacing } from './timesteps.js';
import { VP_STATE, type SamplerContext, type SamplerRun, type StepResult } from './types.js';

/** DDIM options. */
export interface DdimOptions {
  /** Steps N ≤ T (default 50, or T when smaller). */
  steps?: number;
  /** η ≥ 0: 0 is deterministic DDIM, 1 matches the DDPM posterior variance (default 0). */
  eta?: number;
  /** The subsequence τ (default 'uniform': τ spans 0..T−1). */
  spacing?: TimestepSpacing;
  /** Keep only timesteps with σ_t ≥ σ_min (σ = √((1−ᾱ)/ᾱ)); the run then ends at max(σ(0), σ_min). */
  sigmaMin?: number;
  /** Keep only timesteps with σ_t ≤ σ_max (the first step starts below it). */
  sigmaMax?: number;
  /**
   * The last step goes to ᾱ = 1 and returns x̂_0 (default true; diffusers' set_alpha_to_one), or
   * to the lowest level ᾱ(σ_lo) (ᾱ_0 without a clamp) and returns that x_t.
   */
  denoiseFinal?: boolean;
}

/** x_prev = √ᾱ_prev x̂_0 + √(1−ᾱ_prev−σ²) ε̂ (eq. 12 without its noise term). */
function ddimMean(x0: Tensor, eps: Tensor, alphaBarPrev: number, sigma: number): Tensor {
  return x0.mul(Math.sqrt(alphaBarPrev)).add(eps.mul(Math.sqrt(Math.max(0, 1 - alphaBarPrev - sigma * sigma)))); // (B, C, H, W)
}

/**
 * Prepares DDIM sampling.
 * @param ctx the model, kwargs, generator and optional classifier guidance (condition_score).
 * @param options steps, η and spacing.
 * @returns a run of N steps, from x_{τ_{N−1}} = z to x_0.
 */
export function ddim(ctx: SamplerContext, options: DdimOptions = {}): SamplerRun {
  const { spec, modelKwargs, generator, classifier } = ctx;
  const ac = spec.alphasCumprod;
  const sched = new DiscreteSigmas(ac);
  const [sigmaLo] = sigmaBounds(sched, options); // checks the clamp
  const range = timestepRange(sched.sigmas, options.sigmaMin, options.sigmaMax);
  const timesteps = samplerTimesteps(ac.length, options.steps ?? Math.min(50, range[1] - range[0] + 1), options.spacing, range);
  const N = timesteps.length;
  // ᾱ after the last step: 1 (x̂_0), or that of the lowest level σ_lo = max(σ(0), σ_min).
  const alphaBarEnd = options.denoiseFinal ?? true ? 1 : 1 / (1 + sigmaLo ** 2);
  const eta = options.eta ?? 0;
  if (!(eta >= 0)) throw new RangeError(`DDIM: eta must be ≥ 0, got ${eta}`);

  return {
    total: N,
    // Before step i the state is at τ_{N−1−i}; after the last, at ᾱ_end.
    sigmaAt: (i) => (i < N ? sched.sigmas[timesteps[N - 1 - i]!]! : Math.sqrt((1 - alphaBarEnd) / alphaBarEnd)),
    ...VP_STATE,
    step(i: number, x: Tensor): StepResult {
      const k = N - 1 - i;
      const alphaBar = ac[timesteps[k]!]!;
      const alphaBarPrev = k > 0 ? ac[timesteps[k - 1]!]! : alphaBarEnd;
      // 1. ε̂ and the "predicted x_0" of eq. 12 (x̂_0 clipped and ε̂ re-derived when asked).
      const { eps, x0 } = predict(spec, x, timesteps[k]!, modelKwargs, classifier);
      // 2. σ_τ(η) = η √((1−ᾱ_prev)/(1−ᾱ)) √(1−ᾱ/ᾱ_prev)  (eq. 16).
      const sigma = eta * Math.sqrt((1 - alphaBarPrev) / (1 - alphaBar)) * Math.sqrt(1 - alphaBar / alphaBarPrev);
      // 3. x_prev = √ᾱ_prev x̂_0 + √(1−ᾱ_prev−σ²) ε̂ + σ z  (eq. 12), no noise on the last step.
      const mean = ddimMean(x0, eps, alphaBarPrev, sigma);
      if (k === 0 || sigma === 0) return { x: mean, x0 };
      const z = gaussianLike(x, generator); // (B, C, H, W)
      return { x: mean.add(z.mul(sigma)), x0 };
    },
  };
}

/** DDIM inversion options. */
export interface DdimInvertOptions {
  /** Steps N ≤ T (default 50, or T when smaller). */
  steps?: number;
  /** The subsequence τ (default 'uniform'); use the same as the sampling that undoes it. */
  spacing?: TimestepSpacing;
  /**
   * Go no higher than this σ = √((1−ᾱ)/ᾱ) (as DdimOptions.sigmaMax; sample with the same clamp):
   * the cosine schedule's top levels (σ up to ≈ 2·10⁴) are where the round trip loses the image.
   */
  sigmaMax?: number;
  /** Extra model inputs (e.g. `{ y }`). */
  modelKwargs?: ModelKwargs;
  /** Called with (steps done, total) after each step. */
  progress?: (step: number, total: number) => void;
}

/**
 * Deterministic DDIM inversion: the η = 0 update run from x_0 up the levels 1 → ᾱ_{τ_0} → … →
 * ᾱ_{τ_{N−1}}, each step using ε̂ at its lower end (the explicit direction of the ODE). The first
 * step mirrors sampling's last: x_{τ_0} = √ᾱ_{τ_0} x_0 + √(1−ᾱ_{τ_0}) ε̂, with ε̂ asked of x_0 at τ_0.
 * DDIM sampling with the same steps and spacing maps the result back to ≈ x_0.
 * @param spec the model; @param x0 clean images (B, C, H, W) (not consumed).
 * @param options steps, spacing, kwargs, progress.
 * @returns x_{τ_{N−1}} (B, C, H, W).
 */
export function ddimInvert(spec: DiffusionModelSpec, x0: Tensor, options: DdimInvertOptions = {}): Tensor {
  const ac = spec.alphasCumprod;
  const sched = new DiscreteSigmas(ac);
  sigmaBounds(sched, options); // checks the clamp
  const range = timestepRange(sched.sigmas, undefined, options.sigmaMax);
  const timesteps = samplerTimesteps(ac.length, options.steps ?? Math.min(50, range[1] - range[0] + 1), options.spacing, range);
  const N = timesteps.length;
  const modelKwargs = options.modelKwargs ?? {};
  const run: SamplerRun = {
    total: N,
    sigmaAt: (i) => (i === 0 ? 0 : Math.sqrt((1 - ac[timesteps[i - 1]!]!) / ac[timesteps[i - 1]!]!)), // up from the clean x_0
    ...VP_STATE,
    step(i: number, x: Tensor): StepResult {
      // 1. ε̂ at the current level: the model at τ_{i−1} (at τ_0 for the clean start, where x̂_0 = x).
      const pred = predict(spec, x, timesteps[Math.max(i - 1, 0)]!, modelKwargs);
      const x0Pred = i === 0 ? x.clone() : pred.x0; // (B, C, H, W)
      // 2. Up to the next level with eq. 12 at η = 0: x_next = √ᾱ_next x̂_0 + √(1−ᾱ_next) ε̂.
      return { x: ddimMean(x0Pred, pred.eps, ac[timesteps[i]!]!, 0), x0: x0Pred };
    },
  };
  return runToEnd(run, x0, options.progress);
}
