// The float64 tables a Gaussian diffusion precomputes from β (improved-diffusion's
// GaussianDiffusion.__init__), under camelCase versions of its names.

/** Every per-timestep quantity of the forward process and of its posterior, each (T,) float64. */
export interface DiffusionTables {
  betas: Float64Array;
  /** α_t = 1 − β_t. */
  alphas: Float64Array;
  /** ᾱ_t = Π_{s≤t} α_s. */
  alphasCumprod: Float64Array;
  /** ᾱ_{t−1}, with ᾱ_{−1} = 1. */
  alphasCumprodPrev: Float64Array;
  /** ᾱ_{t+1}, with ᾱ_T = 0. */
  alphasCumprodNext: Float64Array;
  sqrtAlphasCumprod: Float64Array;
  sqrtOneMinusAlphasCumprod: Float64Array;
  logOneMinusAlphasCumprod: Float64Array;
  sqrtRecipAlphasCumprod: Float64Array;
  sqrtRecipm1AlphasCumprod: Float64Array;
  /** β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t), the variance of q(x_{t−1} | x_t, x_0) (Ho et al. eq. 7). */
  posteriorVariance: Float64Array;
  /** log β̃_t with β̃_0 (which is 0) replaced by β̃_1, so the log is finite. */
  posteriorLogVarianceClipped: Float64Array;
  /** The coefficient of x_0 in the posterior mean μ̃_t. */
  posteriorMeanCoef1: Float64Array;
  /** The coefficient of x_t in the posterior mean μ̃_t. */
  posteriorMeanCoef2: Float64Array;
  /** log β_t, the upper end of LEARNED_RANGE's interpolation. */
  logBetas: Float64Array;
  /** FIXED_LARGE's variance: β_t, with β̃_1 at t = 0 for a better decoder likelihood. */
  fixedLargeVariance: Float64Array;
  fixedLargeLogVariance: Float64Array;
  /** SNR_t = ᾱ_t / (1 − ᾱ_t). */
  snr: Float64Array;
}

/**
 * Builds the tables from a schedule.
 * @param betasIn β (T,), each in (0, 1].
 * @returns the tables, float64.
 */
export function computeDiffusionTables(betasIn: ArrayLike<number>): DiffusionTables {
  const betas = Float64Array.from(betasIn);
  if (betas.length === 0) throw new RangeError('betas must not be empty');
  betas.forEach((b, i) => {
    if (!(b > 0 && b <= 1)) throw new RangeError(`betas must lie in (0, 1]; betas[${i}] = ${b}`);
  });
  const T = betas.length;
  const alphas = betas.map((b) => 1 - b);
  const alphasCumprod = new Float64Array(T);
  alphas.reduce((acc, a, i) => (alphasCumprod[i] = acc * a), 1);
  const alphasCumprodPrev = Float64Array.from({ length: T }, (_, i) => (i === 0 ? 1 : alphasCumprod[i - 1]!));
  const alphasCumprodNext = Float64Array.from({ length: T }, (_, i) => (i === T - 1 ? 0 : alphasCumprod[i + 1]!));
  const posteriorVariance = Float64Array.from({ length: T }, (_, i) => betas[i]! * (1 - alphasCumprodPrev[i]!) / (1 - alphasCumprod[i]!));
  // β̃_0 = 0; improved-diffusion uses β̃_1 there (for T = 1 there is no β̃_1: keep β̃_0).
  const clipFirst = (arr: Float64Array): Float64Array => arr.map((v, i) => (i === 0 && T > 1 ? arr[1]! : v));
  const fixedLargeVariance = betas.map((b, i) => (i === 0 && T > 1 ? posteriorVariance[1]! : b));
  return {
    betas,
    alphas,
    alphasCumprod,
    alphasCumprodPrev,
    alphasCumprodNext,
    sqrtAlphasCumprod: alphasCumprod.map(Math.sqrt),
    sqrtOneMinusAlphasCumprod: alphasCumprod.map((a) => Math.sqrt(1 - a)),
    logOneMinusAlphasCumprod: alphasCumprod.map((a) => Math.log(1 - a)),
    sqrtRecipAlphasCumprod: alphasCumprod.map((a) => Math.sqrt(1 / a)),
    sqrtRecipm1AlphasCumprod: alphasCumprod.map((a) => Math.sqrt(1 / a - 1)),
    posteriorVariance,
    posteriorLogVarianceClipped: clipFirst(posteriorVariance).map(Math.log),
    posteriorMeanCoef1: Float64Array.from({ length: T }, (_, i) => betas[i]! * Math.sqrt(alphasCumprodPrev[i]!) / (1 - alphasCumprod[i]!)),
    posteriorMeanCoef2: Float64Array.from({ length: T }, (_, i) => (1 - alphasCumprodPrev[i]!) * Math.sqrt(alphas[i]!) / (1 - alphasCumprod[i]!)),
    logBetas: betas.map(Math.log),
    fixedLargeVariance,
    fixedLargeLogVariance: fixedLargeVariance.map(Math.log),
    snr: alphasCumprod.map((a) => a / (1 - a)),
  };
}
