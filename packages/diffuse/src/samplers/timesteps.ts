import { spaceTimesteps } from '../diffusion/respace.js';

// Which of the T training timesteps a discrete sampler visits (DDPM respacing, DDIM's
// subsequence τ). improved-diffusion's space_timesteps with one section: 'uniform' keeps
// round(i (T−1)/(N−1)), so the first and last timesteps are always included; 'ddim' is its
// "ddimN" form, range(0, T, stride) with an integer stride.

/** How to choose N of the T timesteps: a named spacing, or the timesteps themselves. */
export type TimestepSpacing = 'uniform' | 'ddim' | readonly number[];

/**
 * The kept timesteps, ascending.
 * @param numTimesteps T, the length of the model's schedule.
 * @param steps N ≤ T, how many to keep (ignored when spacing lists them).
 * @param spacing 'uniform' (default), 'ddim', or an explicit list of distinct integers in [0, T).
 * @returns N distinct integers in [0, T), ascending.
 */
export function samplerTimesteps(numTimesteps: number, steps: number, spacing: TimestepSpacing = 'uniform'): number[] {
  if (typeof spacing !== 'string') return checkedList(numTimesteps, spacing);
  if (!Number.isInteger(steps) || steps < 1 || steps > numTimesteps) {
    throw new RangeError(`steps must be an integer in [1, ${numTimesteps}], got ${steps}`);
  }
  // One step starts from pure noise (improved-diffusion's single section would keep t = 0).
  if (steps === 1) return [numTimesteps - 1];
  return spaceTimesteps(numTimesteps, spacing === 'ddim' ? `ddim${steps}` : [steps]);
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
