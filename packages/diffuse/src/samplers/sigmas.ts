// Noise levels as Karras et al. 2022 (EDM) write them: the VE form x = x_0 + σ ε of a discrete VP
// model x_t = √ᾱ x_0 + √(1−ᾱ) ε, with σ = √((1−ᾱ)/ᾱ) (so x = x_t / √ᾱ). A fractional timestep is
// found by interpolating log σ over the discrete sigmas (k-diffusion's DiscreteSchedule), so the
// VE samplers (Euler, Heun, DPM-Solver++) can ask a discrete-time model for any σ in range.
// All in float64 JavaScript numbers: one σ serves the whole batch.
import type { Tensor } from '@diffuse/torch';

/** The discrete noise levels of a model, ascending with the timestep. */
export class DiscreteSigmas {
  /** σ_t = √((1−ᾱ_t)/ᾱ_t) for t = 0..T−1 (ascending). */
  readonly sigmas: Float64Array;
  /** log σ_t, what fractional timesteps interpolate. */
  readonly logSigmas: Float64Array;

  /**
   * @param alphasCumprod ᾱ_t for t = 0..T−1, decreasing, in (0, 1); T ≥ 2.
   */
  constructor(alphasCumprod: Float64Array) {
    const T = alphasCumprod.length;
    if (T < 2) throw new RangeError(`DiscreteSigmas: need at least 2 timesteps, got ${T}`);
    this.sigmas = alphasCumprod.map((a) => Math.sqrt((1 - a) / a));
    this.logSigmas = this.sigmas.map(Math.log);
    for (let t = 1; t < T; t++) {
      if (!(this.sigmas[t]! > this.sigmas[t - 1]!)) {
        throw new RangeError(`DiscreteSigmas: alphasCumprod must decrease strictly (fails at t=${t})`);
      }
    }
  }

  get numTimesteps(): number {
    return this.sigmas.length;
  }
  /** The smallest discrete σ (t = 0). */
  get sigmaMin(): number {
    return this.sigmas[0]!;
  }
  /** The largest discrete σ (t = T−1). */
  get sigmaMax(): number {
    return this.sigmas[this.sigmas.length - 1]!;
  }

  /**
   * The fractional timestep of a noise level: log σ interpolated linearly between the two
   * discrete sigmas around it (k-diffusion's sigma_to_t), clamped to [0, T−1].
   * @param sigma a noise level > 0.
   * @returns t ∈ [0, T−1].
   */
  sigmaToT(sigma: number): number {
    const ls = this.logSigmas;
    const logSigma = Math.log(sigma);
    // low = the last index with log σ_low ≤ log σ, kept in [0, T−2] so high = low + 1 exists.
    let lo = 0;
    let hi = ls.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ls[mid]! <= logSigma) lo = mid;
      else hi = mid - 1;
    }
    const w = Math.min(1, Math.max(0, (logSigma - ls[lo]!) / (ls[lo + 1]! - ls[lo]!)));
    return lo + w;
  }

  /**
   * The noise level at a fractional timestep (the inverse of sigmaToT on [0, T−1]).
   * @param t a timestep in [0, T−1].
   * @returns σ(t).
   */
  tToSigma(t: number): number {
    const ls = this.logSigmas;
    const low = Math.min(Math.max(Math.floor(t), 0), ls.length - 2);
    const w = t - low;
    return Math.exp((1 - w) * ls[low]! + w * ls[low + 1]!);
  }
}

/**
 * Karras et al. 2022, eq. 5: σ_i = (σ_max^{1/ρ} + i/(N−1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ for
 * i < N, and σ_N = 0 — steps that crowd near σ_min, where detail is decided.
 * @param n the number of nonzero levels N ≥ 1.
 * @param sigmaMin σ_min > 0; @param sigmaMax σ_max ≥ σ_min; @param rho ρ (7 in the paper).
 * @returns N + 1 levels, decreasing, ending in 0.
 */
export function karrasSigmas(n: number, sigmaMin: number, sigmaMax: number, rho = 7): Float64Array {
  checkSteps(n);
  const out = new Float64Array(n + 1);
  const maxInvRho = sigmaMax ** (1 / rho);
  const minInvRho = sigmaMin ** (1 / rho);
  for (let i = 0; i < n; i++) {
    const frac = n === 1 ? 0 : i / (n - 1);
    out[i] = (maxInvRho + frac * (minInvRho - maxInvRho)) ** rho;
  }
  return out; // out[n] = 0
}

/**
 * N levels from σ_max down to σ_min, uniform in the (fractional) timestep, followed by 0:
 * DPM-Solver's "time_uniform" grid over a discrete model.
 * @param sched the model's discrete sigmas; @param n N ≥ 1 nonzero levels.
 * @param sigmaMin the lowest level (default σ(0)); @param sigmaMax the highest (default σ(T−1)).
 * @returns N + 1 levels, decreasing, ending in 0.
 */
export function timeUniformSigmas(sched: DiscreteSigmas, n: number, sigmaMin = sched.sigmaMin, sigmaMax = sched.sigmaMax): Float64Array {
  checkSteps(n);
  const tMax = sched.sigmaToT(sigmaMax);
  const tMin = sched.sigmaToT(sigmaMin);
  const out = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) out[i] = sched.tToSigma(n === 1 ? tMax : tMax + (i / (n - 1)) * (tMin - tMax));
  return out;
}

/**
 * N levels from σ_max down to σ_min, uniform in log-SNR λ = −log σ, followed by 0: DPM-Solver's
 * "logSNR" grid (Lu et al. 2022, sec. 3.3).
 * @param sched the model's discrete sigmas; @param n N ≥ 1 nonzero levels.
 * @param sigmaMin the lowest level (default σ(0)); @param sigmaMax the highest (default σ(T−1)).
 * @returns N + 1 levels, decreasing, ending in 0.
 */
export function logSnrUniformSigmas(sched: DiscreteSigmas, n: number, sigmaMin = sched.sigmaMin, sigmaMax = sched.sigmaMax): Float64Array {
  checkSteps(n);
  const lambdaStart = -Math.log(sigmaMax);
  const lambdaEnd = -Math.log(sigmaMin);
  const out = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    const lambda = n === 1 ? lambdaStart : lambdaStart + (i / (n - 1)) * (lambdaEnd - lambdaStart);
    out[i] = Math.exp(-lambda);
  }
  return out;
}

function checkSteps(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`steps must be a positive integer, got ${n}`);
}

/** How a VE-form run over decreasing levels σ_0 > … > σ_N meets the VP world. */
export interface VeScaling {
  /** x_T ~ N(0, I) in VP scale is x = z √(1+σ_0²) in VE scale (diffusers' init_noise_sigma). */
  start(noise: Tensor): Tensor;
  /** 1/√(1+σ_{i+1}²): the state after step i times this is the VP x_t. */
  vpScale(i: number): number;
}

/**
 * The start and VP scaling of a VE-form sampler.
 * @param sigmas the run's levels, decreasing (ending in 0, or in σ_min for a run that stops there).
 */
export function veScaling(sigmas: Float64Array): VeScaling {
  return {
    start: (noise) => noise.mul(Math.sqrt(1 + sigmas[0]! ** 2)), // (B, C, H, W)
    vpScale: (i) => 1 / Math.sqrt(1 + sigmas[i + 1]! ** 2),
  };
}
