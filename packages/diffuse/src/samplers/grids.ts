// The levels a σ-grid solver visits: σ_0 > σ_1 > … > σ_N, one model evaluation at each of the
// first N. Every rule in one place, each clamped to [σ_min, σ_max] ∩ the model's own range:
//   'logsnr'  uniform in λ = −log σ (DPM-Solver, Lu et al. 2022, sec. 3.3);
//   'karras'  uniform in σ^{1/ρ} (Karras et al. 2022, eq. 5);
//   'time'    uniform in the fractional timestep (DPM-Solver's time_uniform);
//   a timestep spacing ('uniform', 'ddim', 'linspace', 'leading', 'trailing', timesteps.ts): σ at
//   those training timesteps, restricted to the ones whose σ lies inside the clamp.
// The clamp matters most on the cosine schedule, whose last β is clipped to 0.999 so σ(T−1) ≈ 1e4:
// a log-SNR grid over [σ(0), σ(T−1)] spends a third of its steps above σ ≈ 80, where x_t is noise.
// The final step: with denoiseFinal (the default) σ_N = 0, so the last step returns the model's
// x̂_0 of σ_{N−1} (diffusers' final_sigmas_type = "zero"; k-diffusion); without it σ_N is the
// lowest level and the run stops there, returning the VP x_t of σ_N (DPM-Solver's
// denoise_to_zero = False; diffusers' "sigma_min"). The continuous grids then spread N + 1 levels
// over the range, so every step is a full-order one.
import { DiscreteSigmas, karrasSigmas, logSnrUniformSigmas, timeUniformSigmas } from './sigmas.js';
import { samplerTimesteps, timestepRange, TIMESTEP_SPACINGS, type TimestepSpacingName } from './timesteps.js';

/** A continuous σ grid. */
export type SigmaSpacing = 'logsnr' | 'karras' | 'time';

/** The continuous σ grids, for option checks and CLI choices. */
export const SIGMA_SPACINGS: readonly SigmaSpacing[] = ['logsnr', 'karras', 'time'];

/** Every grid rule: a continuous σ grid or a timestep spacing. */
export type Spacing = SigmaSpacing | TimestepSpacingName;

/** Every grid rule name. */
export const SPACINGS: readonly Spacing[] = [...SIGMA_SPACINGS, ...TIMESTEP_SPACINGS];

/** How a solver lays out its levels. */
export interface SigmaGridOptions {
  /** The rule (each solver has its default). */
  spacing?: Spacing;
  /** Visit no σ below this (default: the model's σ(0)). */
  sigmaMin?: number;
  /** Visit no σ above this (default: the model's σ(T−1)); the run starts at min(σ_max, σ(T−1)). */
  sigmaMax?: number;
  /** ρ of the Karras grid (default 7). */
  rho?: number;
  /** End with σ = 0, the model's x̂_0 (default true), or stop at the lowest level. */
  denoiseFinal?: boolean;
}

/**
 * The clamped range [σ_lo, σ_hi] of a model's levels.
 * @param sched the model's discrete sigmas; @param options the clamp.
 * @returns [max(σ(0), σ_min), min(σ(T−1), σ_max)], checked to be a nonempty interval.
 */
export function sigmaBounds(sched: DiscreteSigmas, options: Pick<SigmaGridOptions, 'sigmaMin' | 'sigmaMax'>): [number, number] {
  const { sigmaMin, sigmaMax } = options;
  for (const [name, v] of [['sigmaMin', sigmaMin], ['sigmaMax', sigmaMax]] as const) {
    if (v !== undefined && !(v > 0 && Number.isFinite(v))) throw new RangeError(`${name} must be a finite number > 0, got ${v}`);
  }
  const lo = Math.max(sched.sigmaMin, sigmaMin ?? 0);
  const hi = Math.min(sched.sigmaMax, sigmaMax ?? Infinity);
  if (!(lo < hi)) {
    throw new RangeError(`the σ clamp [${lo.toPrecision(4)}, ${hi.toPrecision(4)}] is empty (the model's σ run from ${sched.sigmaMin.toPrecision(4)} to ${sched.sigmaMax.toPrecision(4)})`);
  }
  return [lo, hi];
}

/**
 * The levels of an N-step σ-grid run.
 * @param sched the model's discrete sigmas; @param steps N ≥ 1 model evaluations.
 * @param options the rule, clamp, ρ and final step; @param defaultSpacing the solver's own rule.
 * @returns N + 1 levels, strictly decreasing except that a timestep grid already ending at
 *   σ_lo repeats it (a zero-length last step, as diffusers has); the last is 0 with denoiseFinal.
 */
export function solverSigmas(sched: DiscreteSigmas, steps: number, options: SigmaGridOptions, defaultSpacing: Spacing): Float64Array {
  const [lo, hi] = sigmaBounds(sched, options);
  const denoise = options.denoiseFinal ?? true;
  const spacing = options.spacing ?? defaultSpacing;
  // Without the final denoise the continuous grids need N + 1 levels of their own.
  const n = denoise ? steps : steps + 1;
  let grid: Float64Array;
  switch (spacing) {
    case 'logsnr':
      grid = logSnrUniformSigmas(sched, n, lo, hi);
      break;
    case 'karras':
      grid = karrasSigmas(n, lo, hi, options.rho ?? 7);
      break;
    case 'time':
      grid = timeUniformSigmas(sched, n, lo, hi);
      break;
    default: {
      if (!TIMESTEP_SPACINGS.includes(spacing)) throw new RangeError(`unknown spacing '${String(spacing)}' (${SPACINGS.join(', ')})`);
      const range = timestepRange(sched.sigmas, options.sigmaMin, options.sigmaMax);
      const timesteps = samplerTimesteps(sched.numTimesteps, steps, spacing, range).reverse(); // descending
      return Float64Array.from([...timesteps.map((t) => sched.sigmas[t]!), denoise ? 0 : lo]);
    }
  }
  return denoise ? grid : grid.slice(0, n);
}
