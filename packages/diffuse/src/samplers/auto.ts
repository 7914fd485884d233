// `--sampler auto`: the best configuration measured for a budget of model evaluations (NFE).
// The table holds what docs/samplers.md measured on the shipped digits-cpu model (v-prediction,
// cosine schedule, T = 1000; our digits FID of 500 samples against the held-out digits): for each
// budget the configuration with the lowest FID among those that use at most that many
// evaluations. Other models get the same table (their own measurements would refine it).
import type { SampleOptions, SamplerName } from './index.js';

/** One measured configuration. */
export interface MeasuredConfig {
  /** Model evaluations it uses. */
  nfe: number;
  sampler: SamplerName;
  steps: number;
  sigmaMax?: number;
  denoiseFinal?: boolean;
  /** Its FID on digits-cpu (500 samples, seed 1, vs mnist:test). */
  fid: number;
}

/** What the table was measured on. */
export const AUTO_MEASURED_ON = 'digits-cpu (v-prediction, cosine, T = 1000), docs/samplers.md';

/** The measured configurations (docs/samplers.md), fewest evaluations first. */
export const AUTO_TABLE: readonly MeasuredConfig[] = [
  { nfe: 5, sampler: 'unipc-bh2', steps: 5, sigmaMax: 80, denoiseFinal: false, fid: 10.86 },
  // 8: the full grid (docs/samplers.md) measured 3M with σ_max 40 at 6.59 against UniPC-bh2's 7.04.
  { nfe: 8, sampler: 'dpmpp-3m', steps: 8, sigmaMax: 40, denoiseFinal: false, fid: 6.59 },
  { nfe: 10, sampler: 'dpmpp-3m', steps: 10, sigmaMax: 40, denoiseFinal: false, fid: 4.99 },
  { nfe: 15, sampler: 'dpmpp-3m', steps: 15, sigmaMax: 40, denoiseFinal: false, fid: 4.48 },
  { nfe: 20, sampler: 'dpmpp-3m', steps: 20, sigmaMax: 80, fid: 4.1 },
];

/** The choice of `auto`, and why. */
export interface AutoChoice {
  options: Pick<SampleOptions, 'sampler' | 'steps' | 'sigmaMax' | 'denoiseFinal'>;
  /** The measured entry, or null below the smallest budget measured (its solver at nfe steps). */
  measured: MeasuredConfig | null;
}

/**
 * The best measured configuration within a budget: the lowest FID among the entries with
 * nfe ≤ budget (a bigger budget never picks a worse one); below every entry, the smallest
 * entry's solver and settings with `budget` steps, unmeasured.
 * @param budget the most model evaluations to spend (≥ 1).
 */
export function autoSampler(budget: number): AutoChoice {
  if (!Number.isInteger(budget) || budget < 1) throw new RangeError(`the evaluation budget must be an integer ≥ 1, got ${budget}`);
  const within = AUTO_TABLE.filter((c) => c.nfe <= budget);
  if (within.length === 0) {
    const c = AUTO_TABLE[0]!;
    return { options: { sampler: c.sampler, steps: budget, sigmaMax: c.sigmaMax, denoiseFinal: c.denoiseFinal }, measured: null };
  }
  const best = within.reduce((a, b) => (b.fid < a.fid ? b : a));
  return { options: { sampler: best.sampler, steps: best.steps, sigmaMax: best.sigmaMax, denoiseFinal: best.denoiseFinal }, measured: best };
}
