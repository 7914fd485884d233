import { roundHalfEven } from '../data/transforms.js';
import { spaceTimesteps } from '../diffusion/respace.js';

// Which of the T training timesteps a discrete sampler visits (DDPM respacing, DDIM's
// subsequence τ, or the levels of a σ-grid solver). Two families:
//   improved-diffusion's space_timesteps with one section: 'uniform' keeps round(i (T−1)/(N−1)),
//   so the first and last timesteps are always included; 'ddim' is its "ddimN" form,
//   range(0, T, stride) with an integer stride;
//   diffusers' `timestep_spacing` (Lin et al. 2024, "Common Diffusion Noise Schedules and Sample
//   Steps are Flawed", table 2): 'linspace' = round(linspace(0, T−1, N)); 'leading' =
//   (T // N) · arange(N), which never visits t = T−1; 'trailing' = round(arange(T, 0, −T/N)) − 1,
//   which always starts at t = T−1 and skips the smallest timesteps instead.
// A range [lo, hi] (from a σ clamp, see timestepRange) applies the rule to the hi − lo + 1
// timesteps lo..hi as if they were the whole schedule, shifted by lo.

/** A named rule for choosing N of the T timesteps. */
export type TimestepSpacingName = 'uniform' | 'ddim' | 'linspace' | 'leading' | 'trailing';

/** The named timestep rules, for option checks and CLI choices. */
export const TIMESTEP_SPACINGS: readonly TimestepSpacingName[] = ['uniform', 'ddim', 'linspace', 'leading', 'trailing'];

/** How to choose N of the T timesteps: a named spacing, or the timesteps themselves. */
export type TimestepSpacing = TimestepSpacingName | readonly number[];

/**
 * The kept timesteps, ascending.
 * @param numTimesteps T, the length of the model's schedule.
 * @param steps N ≤ T (or ≤ the range's length), how many to keep (ignored when spacing lists them).
 * @param spacing 'uniform' (default), 'ddim', 'linspace', 'leading', 'trailing', or an explicit
 *   list of distinct integers in [0, T).
 * @param range optional [lo, hi] within [0, T−1]: space only these timesteps (ignored for a list).
 * @returns N distinct integers in [0, T), ascending.
 */
export function samplerTimesteps(
  numTimesteps: number,
  steps: number,
  spacing: TimestepSpacing = 'uniform',
  range?: readonly [number, number],
): number[] {
  if (typeof spacing !== 'string') return checkedList(numTimesteps, spacing);
  const [lo, hi] = range ?? [0, numTimesteps - 1];
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi >= numTimesteps || lo > hi) {
    throw new RangeError(`timestep range [${lo}, ${hi}] is not inside [0, ${numTimesteps - 1}]`);
  }
  const T = hi - lo + 1;
  if (!Number.isInteger(steps) || steps < 1 || steps > T) {
    throw new RangeError(`steps must be an integer in [1, ${T}], got ${steps}`);
  }
  return spacedTimesteps(T, steps, spacing).map((t) => t + lo);
}

/** The rule on a schedule of T timesteps, ascending (T ≥ N ≥ 1 checked). */
function spacedTimesteps(T: number, N: number, spacing: TimestepSpacingName): number[] {
  switch (spacing) {
    case 'uniform':
    case 'ddim':
      // One step starts from pure noise (improved-diffusion's single section would keep t = 0).
      if (N === 1) return [T - 1];
      return spaceTimesteps(T, spacing === 'ddim' ? `ddim${N}` : [N]);
    case 'linspace': {
      // numpy's linspace: start + i · step with step = (stop − start)/(N − 1), the last one exact.
      if (N === 1) return [0];
      const step = (T - 1) / (N - 1);
      return Array.from({ length: N }, (_, i) => (i === N - 1 ? T - 1 : roundHalfEven(i * step)));
    }
    case 'leading': {
      const ratio = Math.floor(T / N);
      return Array.from({ length: N }, (_, i) => i * ratio);
    }
    case 'trailing': {
      // numpy's arange(T, 0, −T/N): T + i · (−T/N).
      const step = -T / N;
      return Array.from({ length: N }, (_, i) => roundHalfEven(T + i * step) - 1).reverse();
    }
    default:
      throw new RangeError(`unknown timestep spacing '${String(spacing)}' (${TIMESTEP_SPACINGS.join(', ')})`);
  }
}

/**
 * The timesteps whose noise level lies in [σ_min, σ_max]: the range a σ clamp leaves to a
 * timestep spacing.
 * @param sigmas the model's discrete σ_t, ascending (DiscreteSigmas.sigmas).
 * @param sigmaMin the smallest σ to visit (default: no clamp); @param sigmaMax the largest.
 * @returns [lo, hi], the first and last timestep inside the clamp.
 */
export function timestepRange(sigmas: Float64Array, sigmaMin?: number, sigmaMax?: number): [number, number] {
  let lo = 0;
  let hi = sigmas.length - 1;
  if (sigmaMin !== undefined) while (lo < hi && sigmas[lo]! < sigmaMin) lo++;
  if (sigmaMax !== undefined) while (hi > lo && sigmas[hi]! > sigmaMax) hi--;
  return [lo, hi];
}

function checkedList(numTimesteps: number, list: readonly number[]): number[] {
  const out = [...list].sort((a, b) => a - b);
  if (out.length === 0) throw new RangeError('timesteps: the list is empty');
  out.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t >= numTimesteps) throw new RangeError(`timesteps: ${t} is not an integer in [0, ${numTimesteps})`);
    if (i > 0 && t === out[i - 1]) throw new RangeError(`timesteps: ${t} appears twice`);
  });
  return out;
}
