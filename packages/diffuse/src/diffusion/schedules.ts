// Noise schedules β_1..β_T, computed in float64 (improved-diffusion's get_named_beta_schedule,
// The Annotated Diffusion Model's quadratic/sigmoid, and Lin et al. 2023's zero-terminal-SNR fix).
// Schedules are plain Float64Arrays: the diffusion tables are derived from them in float64 and
// only cast to the model's dtype when indexed at t.

/** The schedule names `getNamedBetaSchedule` knows. */
export type BetaScheduleName = 'linear' | 'cosine' | 'quadratic' | 'sigmoid';

/** The names, for CLIs and validation. */
export const BETA_SCHEDULE_NAMES: readonly BetaScheduleName[] = ['linear', 'cosine', 'quadratic', 'sigmoid'];

/**
 * numpy.linspace in float64: `num` evenly spaced values from start to stop (both included),
 * computed as start + i·step with the last value set to stop exactly, as numpy does.
 */
export function linspace64(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  if (num === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out[i] = start + i * step;
  out[num - 1] = stop;
  return out;
}

/** Ho et al.'s β range (0.0001 to 0.02 at T = 1000), scaled by 1000/T so the schedule keeps its shape for any T. */
function scaledRange(numTimesteps: number): [number, number] {
  const scale = 1000 / numTimesteps;
  return [scale * 0.0001, scale * 0.02];
}

/**
 * Linear β schedule (Ho et al. 2020), as improved-diffusion's "linear".
 * @param numTimesteps T.
 * @param betaStart β_1 (default 0.0001·1000/T).
 * @param betaEnd β_T (default 0.02·1000/T).
 * @returns β (T,), float64.
 */
export function linearBetaSchedule(numTimesteps: number, betaStart?: number, betaEnd?: number): Float64Array {
  const [s, e] = scaledRange(numTimesteps);
  return linspace64(betaStart ?? s, betaEnd ?? e, numTimesteps);
}

/**
 * Quadratic schedule (The Annotated Diffusion Model): β = linspace(√β_start, √β_end)².
 * @param numTimesteps T.
 * @param betaStart defaults to 0.0001·1000/T (as "linear").
 * @param betaEnd defaults to 0.02·1000/T.
 * @returns β (T,), float64.
 */
export function quadraticBetaSchedule(numTimesteps: number, betaStart?: number, betaEnd?: number): Float64Array {
  const [s, e] = scaledRange(numTimesteps);
  return linspace64(Math.sqrt(betaStart ?? s), Math.sqrt(betaEnd ?? e), numTimesteps).map((r) => r * r);
}

/**
 * Sigmoid schedule (The Annotated Diffusion Model): β = σ(linspace(−6, 6))·(β_end − β_start) + β_start.
 * @param numTimesteps T.
 * @param betaStart defaults to 0.0001·1000/T (as "linear").
 * @param betaEnd defaults to 0.02·1000/T.
 * @returns β (T,), float64.
 */
export function sigmoidBetaSchedule(numTimesteps: number, betaStart?: number, betaEnd?: number): Float64Array {
  const [s, e] = scaledRange(numTimesteps);
  const lo = betaStart ?? s;
  const hi = betaEnd ?? e;
  return linspace64(-6, 6, numTimesteps).map((z) => (1 / (1 + Math.exp(-z))) * (hi - lo) + lo);
}

/**
 * A β schedule that discretizes a continuous ᾱ(t), t ∈ [0, 1] (improved-diffusion's
 * betas_for_alpha_bar): β_i = min(1 − ᾱ((i+1)/T) / ᾱ(i/T), maxBeta).
 * @param numTimesteps T.
 * @param alphaBar ᾱ(t), the cumulative product of (1 − β) from 0 to t.
 * @param maxBeta the largest β allowed; below 1 to avoid the singularity at the end.
 * @returns β (T,), float64.
 */
export function betasForAlphaBar(numTimesteps: number, alphaBar: (t: number) => number, maxBeta = 0.999): Float64Array {
  const betas = new Float64Array(numTimesteps);
  for (let i = 0; i < numTimesteps; i++) {
    const t1 = i / numTimesteps;
    const t2 = (i + 1) / numTimesteps;
    betas[i] = Math.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
  }
  return betas;
}

/**
 * Cosine schedule (Nichol & Dhariwal 2021, eq. 17): ᾱ(t) = cos²((t + s)/(1 + s) · π/2), s = 0.008, β ≤ 0.999.
 * @param numTimesteps T.
 * @returns β (T,), float64.
 */
export function cosineBetaSchedule(numTimesteps: number): Float64Array {
  return betasForAlphaBar(numTimesteps, (t) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2);
}

/**
 * A user-given schedule, checked and copied to float64.
 * @param betas β_1..β_T, each in (0, 1].
 * @returns β (T,), float64.
 */
export function userBetas(betas: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(betas);
  if (out.length === 0) throw new RangeError('betas must not be empty');
  out.forEach((b, i) => {
    if (!(b > 0 && b <= 1)) throw new RangeError(`betas must lie in (0, 1]; betas[${i}] = ${b}`);
  });
  return out;
}

/**
 * A named schedule (improved-diffusion's get_named_beta_schedule, plus quadratic and sigmoid).
 * Every schedule is scaled so it stays similar as T changes: linear, quadratic and sigmoid use
 * β from 0.0001·1000/T to 0.02·1000/T (The Annotated Diffusion Model's values at T = 1000).
 * @param name 'linear' | 'cosine' | 'quadratic' | 'sigmoid'.
 * @param numTimesteps T.
 * @returns β (T,), float64.
 */
export function getNamedBetaSchedule(name: BetaScheduleName | string, numTimesteps: number): Float64Array {
  if (!Number.isInteger(numTimesteps) || numTimesteps < 1) throw new RangeError(`numTimesteps must be a positive integer, got ${numTimesteps}`);
  switch (name) {
    case 'linear': return linearBetaSchedule(numTimesteps);
    case 'cosine': return cosineBetaSchedule(numTimesteps);
    case 'quadratic': return quadraticBetaSchedule(numTimesteps);
    case 'sigmoid': return sigmoidBetaSchedule(numTimesteps);
    default: throw new Error(`unknown beta schedule: ${name} (expected one of ${BETA_SCHEDULE_NAMES.join(', ')})`);
  }
}

/** ᾱ_t = Π_{s≤t} (1 − β_s), float64. */
export function alphasCumprodOf(betas: ArrayLike<number>): Float64Array {
  const out = new Float64Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= 1 - betas[i]!;
    out[i] = acc;
  }
  return out;
}

/**
 * Rescales a schedule to zero terminal SNR (Lin et al. 2023, "Common Diffusion Noise Schedules
 * and Sample Steps are Flawed", Algorithm 1): shift √ᾱ so its last value is 0, scale it so its
 * first value is unchanged, and recover β. The last β becomes 1 (x_T is pure noise), so pair it
 * with v-prediction: ε-prediction cannot recover x_0 at SNR 0.
 * @param betas β (T,).
 * @returns the rescaled β (T,), float64.
 */
export function rescaleZeroTerminalSnr(betas: ArrayLike<number>): Float64Array {
  const sqrtAlphaBar = alphasCumprodOf(betas).map(Math.sqrt);
  const a0 = sqrtAlphaBar[0]!;
  const aT = sqrtAlphaBar[sqrtAlphaBar.length - 1]!;
  // Shift so the last √ᾱ is zero, then scale so the first is back to a0.
  const alphaBar = sqrtAlphaBar.map((a) => ((a - aT) * a0 / (a0 - aT)) ** 2);
  return alphaBar.map((ab, i) => 1 - (i === 0 ? ab : ab / alphaBar[i - 1]!));
}
