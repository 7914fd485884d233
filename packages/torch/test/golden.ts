// Reading the PyTorch goldens (test/golden/ops.json, written by ops_gen.py) and comparing
// tensors against them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as torch from '../src/index.js';

/** A number as the generator writes it: non-finite values are strings. */
export type EncodedNumber = number | 'nan' | 'inf' | '-inf';

/** A tensor as the generator writes it (row-major data). */
export interface EncodedTensor {
  shape: number[];
  dtype: string;
  data: EncodedNumber[];
}

export interface GoldenInput extends EncodedTensor {
  grad: boolean;
}

export interface GoldenCase {
  inputs: GoldenInput[];
  outputs: EncodedTensor[];
  grads: (EncodedTensor | null)[];
}

export interface Conversion {
  from: torch.DType;
  to: torch.DType;
  input: (number | boolean)[];
  expected: EncodedNumber[];
}

export interface Goldens {
  torch: string;
  cases: Record<string, GoldenCase>;
  dtypes: {
    roundtrip: Record<string, { input: (number | boolean)[]; expected: EncodedNumber[] }>;
    convert: Conversion[];
  };
  random: Record<string, number[]>;
}

const here = path.dirname(fileURLToPath(import.meta.url));

let cached: Goldens | undefined;
/** The parsed goldens (read once; the file sits in test/golden, two levels above dist/test). */
export function goldens(): Goldens {
  cached ??= JSON.parse(readFileSync(path.join(here, '../../test/golden/ops.json'), 'utf8')) as Goldens;
  return cached;
}

/** Decodes one golden number ('inf' etc. become the IEEE values). */
export function decode(v: EncodedNumber): number {
  if (v === 'nan') return NaN;
  if (v === 'inf') return Infinity;
  if (v === '-inf') return -Infinity;
  return v;
}

/** Builds the tensor a golden input describes (same values, dtype and shape as in PyTorch). */
export function fromEncoded(e: EncodedTensor): torch.Tensor {
  const values = e.data.map(decode);
  const dtype = e.dtype as torch.DType;
  switch (dtype) {
    case 'int64':
      return torch.tensor(BigInt64Array.from(values, (v) => BigInt(v)), { shape: e.shape });
    case 'bool':
      return torch.tensor(Uint8Array.from(values), { shape: e.shape, dtype: 'bool' });
    case 'float64':
      return torch.tensor(Float64Array.from(values), { shape: e.shape });
    default:
      return torch.tensor(Float32Array.from(values), { shape: e.shape, dtype });
  }
}

export interface Tolerance {
  rtol: number;
  atol: number;
}

export const FLOAT32_TOL: Tolerance = { rtol: 1e-4, atol: 1e-5 };
export const FLOAT64_TOL: Tolerance = { rtol: 1e-10, atol: 1e-12 };

/** Asserts |a - e| <= atol + rtol |e| elementwise (NaN matches NaN, infinities match exactly). */
export function assertAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (!Number.isFinite(e) && a === e) continue;
    const err = Math.abs(a - e);
    if (!(err <= tol.atol + tol.rtol * Math.abs(e))) {
      assert.fail(`${label}[${i}]: got ${a}, expected ${e} (|diff| ${err.toExponential(2)})`);
    }
  }
}

/** Asserts that a tensor matches a golden in shape, dtype and values. */
export function assertMatches(actual: torch.Tensor, expected: EncodedTensor, tol: Tolerance, label: string): void {
  assert.deepEqual(actual.shape, expected.shape, `${label}: shape`);
  assert.equal(actual.dtype, expected.dtype, `${label}: dtype`);
  assertAllClose(actual.toArray(), expected.data.map(decode), tol, label);
}

/** The fixed weights W of the golden loss sum_k (out_k * W_k).sum(), as ops_gen.py makes them. */
export function lossWeights(like: torch.Tensor): torch.Tensor {
  const n = like.numel();
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = ((i * 7919) % 101) / 50 - 1;
  const dtype = like.dtype === 'float64' ? 'float64' : 'float32';
  return torch.tensor(dtype === 'float64' ? w : Float32Array.from(w), { shape: like.shape, dtype });
}
