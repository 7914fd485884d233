// Shared pieces of the diffusion tests: the golden file written by golden/diffusion.py, the fake
// model it uses, and a float comparison.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import type { ModelFn } from '../src/index.js';

/** Flat float64 values of a tensor. */
type Flat = number[];

/** One p_mean_variance / _vb_terms_bpd case. */
export interface PmvCase {
  meanType: string; varType: string; clip: boolean;
  mean: Flat; variance: Flat; logVariance: Flat; predXstart: Flat; vb: Flat; vbPredXstart: Flat;
}

/** One training_losses case. */
export interface LossCase {
  meanType: string; varType: string; lossType: string; minSnrGamma: number | null;
  loss: Flat; mse?: Flat; vb?: Flat;
}

/** The golden file's contents (see golden/diffusion.py for what each entry is). */
export interface Golden {
  inputs: { shape: number[]; xStart: Flat; noise: Flat; x: Flat; t: number[]; T: number; a: number[]; b: number[]; tScale: number };
  schedules: Record<string, Record<string, Flat>>;
  zeroSnr: Record<string, Flat>;
  tables: Record<string, Flat>;
  q: Record<string, Flat>;
  pMeanVariance: PmvCase[];
  trainingLosses: LossCase[];
  steps: { meanType: string; varType: string; pSample: Flat; ddim0: Flat; ddim05: Flat; ddimReverse: Flat }[];
  loops: { T: number; seed: number; pSampleLoop: Flat; ddimSampleLoop: Flat; bpd: Record<string, Flat> };
  spaceTimesteps: { T: number; spec: string | number[]; steps: number[] }[];
  spaceTimestepsErrors: { T: number; spec: string | number[] }[];
  respacedBetas: { spec: string; betas: Flat; timestepMap: number[] }[];
  spacedRescaled: { spec: string; t: number[]; tScale: number; mean: Flat; logVariance: Flat; predXstart: Flat; loss: Flat; mse: Flat; vb: Flat };
}

let cached: Golden | undefined;
/** golden/diffusion.json, parsed once. */
export function golden(): Golden {
  cached ??= JSON.parse(readFileSync(new URL('../../test/golden/diffusion.json', import.meta.url), 'utf8')) as Golden;
  return cached;
}

/** A float64 tensor from flat golden values. */
export function f64(values: number[], shape: number[]): Tensor {
  return torch.tensor(Float64Array.from(values), { shape });
}

/** An int64 tensor of timesteps. */
export function i64(values: number[]): Tensor {
  return torch.tensor(values, { dtype: 'int64' });
}

/**
 * The golden script's fake model: out = tanh(a · repeat(x) + b · t / tScale) per output
 * channel, so every output depends on x and t.
 */
export function fakeModel(outChannels: number, tScale: number): ModelFn {
  const g = golden().inputs as { a: number[]; b: number[] };
  return (x, t) => torch.tidy(() => {
    const a = torch.tensor(Float64Array.from(g.a.slice(0, outChannels)), { dtype: x.dtype }).view([1, -1, 1, 1]);
    const b = torch.tensor(Float64Array.from(g.b.slice(0, outChannels)), { dtype: x.dtype }).view([1, -1, 1, 1]);
    const xr = x.repeat([1, outChannels / x.shape[1]!, 1, 1]); // (B, outC, H, W)
    const tt = t.to(x.dtype).view([-1, 1, 1, 1]).div(tScale); // (B, 1, 1, 1)
    return xr.mul(a).add(tt.mul(b)).tanh();
  });
}

/** Values of a tensor or array as numbers. */
function numbers(v: Tensor | ArrayLike<number>): number[] {
  return v instanceof torch.Tensor ? v.toArray() : Array.from(v);
}

/**
 * Asserts |actual − expected| ≤ tol · max(1, |expected|) elementwise.
 * @param actual a tensor or numbers.
 * @param expected the reference.
 * @param label what is compared (for the message).
 * @param tol relative tolerance (absolute below 1).
 */
export function assertClose(actual: Tensor | ArrayLike<number>, expected: ArrayLike<number>, label: string, tol = 1e-6): void {
  const a = numbers(actual);
  assert.equal(a.length, expected.length, `${label}: length ${a.length} vs ${expected.length}`);
  for (let i = 0; i < a.length; i++) {
    const e = expected[i]!;
    const err = Math.abs(a[i]! - e);
    if (!(err <= tol * Math.max(1, Math.abs(e)))) {
      assert.fail(`${label}[${i}]: got ${a[i]}, expected ${e} (|diff| ${err})`);
    }
  }
}
