// `--sampler auto`: the best configuration measured for a budget of model evaluations (NFE) and
// the kind of model. docs/samplers.md measured every solver at 5–50 evaluations on two models
// (our digits FID of 500 samples against the held-out digits): the shipped digits-cpu
// (v-prediction) and a ref-28-style ε-prediction model (cosine, learned σ, hybrid loss). The best
// solvers differ between them — on v, UniPC and DPM-Solver++(3M) are close (UniPC of order 3
// best at 10 evaluations); on ε, 3M at 10 evaluations is 39 % worse than UniPC — so each
// prediction type has its own table. For a budget, auto picks the lowest FID among the entries
// that use at most that many evaluations.
import type { SampleOptions, SamplerName } from './index.js';

/** One measured configuration. */
export interface MeasuredConfig {
  /** Model evaluations it uses. */
  nfe: number;
  sampler: SamplerName;
  steps: number;
  sigmaMax?: number;
  denoiseFinal?: boolean;
  /** UniPC's order p (default 2). */
  order?: number;
  /** Its FID on the table's model (500 samples, seed 1, vs mnist:test). */
  fid: number;
}

/** The models the tables were measured on, by what they predict. */
export type AutoModelKind = 'v' | 'epsilon';

/** A table and the model it was measured on. */
export interface AutoTable {
  measuredOn: string;
  /** The best configuration at each measured budget, fewest evaluations first. */
  configs: readonly MeasuredConfig[];
}

/** The measured configurations per model kind (docs/samplers.md, 2026-12-07, Intel Sapphire Rapids). */
export const AUTO_TABLES: Readonly<Record<AutoModelKind, AutoTable>> = {
  v: {
    measuredOn: 'digits-cpu (v-prediction, cosine, T = 1000; the shipped weights, step 11,715), docs/samplers.md',
    configs: [
      { nfe: 5, sampler: 'dpmpp-2m', steps: 5, sigmaMax: 80, denoiseFinal: false, fid: 9.32 },
      { nfe: 8, sampler: 'unipc-bh2', steps: 8, sigmaMax: 80, denoiseFinal: false, fid: 5.11 },
      // 10: UniPC of order 3 (the grid's order-2 solvers: 3M 4.16, UniPC 4.23–4.56).
      { nfe: 10, sampler: 'unipc-bh1', steps: 10, sigmaMax: 80, denoiseFinal: false, order: 3, fid: 3.64 },
      { nfe: 15, sampler: 'unipc-bh1', steps: 15, sigmaMax: 80, denoiseFinal: false, fid: 3.4 },
      { nfe: 20, sampler: 'unipc-bh1', steps: 20, sigmaMax: 80, denoiseFinal: false, fid: 3.31 },
      { nfe: 50, sampler: 'unipc-bh1', steps: 50, sigmaMax: 80, denoiseFinal: false, fid: 3.2 },
    ],
  },
  epsilon: {
    measuredOn: 'a ref-28-style model (ε-prediction, learned σ, hybrid loss, cosine; digits-cpu network, 4,000 steps), docs/samplers.md',
    configs: [
      { nfe: 5, sampler: 'unipc-bh2', steps: 5, sigmaMax: 80, denoiseFinal: false, fid: 13.86 },
      { nfe: 8, sampler: 'unipc-bh1', steps: 8, sigmaMax: 80, denoiseFinal: false, fid: 9.55 },
      { nfe: 10, sampler: 'unipc-bh1', steps: 10, sigmaMax: 80, denoiseFinal: false, fid: 8.78 },
      { nfe: 15, sampler: 'unipc-bh1', steps: 15, sigmaMax: 80, denoiseFinal: false, fid: 9.19 },
      { nfe: 19, sampler: 'heun', steps: 10, sigmaMax: 80, fid: 9.03 },
      { nfe: 50, sampler: 'unipc-bh1', steps: 50, sigmaMax: 80, denoiseFinal: false, fid: 9.26 },
    ],
  },
};

/**
 * The table for a model's prediction type: ε-models get the ε table; v and x₀ models (x₀ was not
 * measured: like v it gives x̂₀ directly, without ε's division by √ᾱ near σ_max) the v table.
 */
export function autoModelKind(meanType: string): AutoModelKind {
  return meanType === 'epsilon' ? 'epsilon' : 'v';
}

/** The choice of `auto`, and why. */
export interface AutoChoice {
  options: Pick<SampleOptions, 'sampler' | 'steps' | 'sigmaMax' | 'denoiseFinal' | 'order'>;
  /** The measured entry, or null below the smallest budget measured (its solver at nfe steps). */
  measured: MeasuredConfig | null;
  /** The table it came from. */
  table: AutoTable;
}

/**
 * The best measured configuration within a budget: the lowest FID among the entries with
 * nfe ≤ budget (a bigger budget never picks a worse one); below every entry, the smallest
 * entry's solver and settings with `budget` steps, unmeasured.
 * @param budget the most model evaluations to spend (≥ 1).
 * @param kind which table (autoModelKind of the model's mean type); default 'v'.
 */
export function autoSampler(budget: number, kind: AutoModelKind = 'v'): AutoChoice {
  if (!Number.isInteger(budget) || budget < 1) throw new RangeError(`the evaluation budget must be an integer ≥ 1, got ${budget}`);
  const table = AUTO_TABLES[kind];
  const within = table.configs.filter((c) => c.nfe <= budget);
  if (within.length === 0) {
    const c = table.configs[0]!;
    return { options: { ...settings(c), steps: budget }, measured: null, table };
  }
  const best = within.reduce((a, b) => (b.fid < a.fid ? b : a));
  return { options: settings(best), measured: best, table };
}

/** The sampler options of an entry (order only where it is set). */
function settings(c: MeasuredConfig): AutoChoice['options'] {
  return { sampler: c.sampler, steps: c.steps, sigmaMax: c.sigmaMax, denoiseFinal: c.denoiseFinal, ...(c.order !== undefined ? { order: c.order } : {}) };
}
