// Reads the PyTorch goldens written by nn_gen.py and compares tensors with float32 tolerance.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { tensor } from '../../src/creation.js';
import type { DType } from '../../src/dtype.js';
import type { Tensor } from '../../src/tensor.js';

/** A tensor as nn_gen.py stores it. */
export interface Encoded {
  shape: number[];
  dtype: string;
  data: (number | boolean)[];
}

export interface GoldenCase {
  state: Record<string, Encoded>;
  inputs: Encoded[];
  extras: Record<string, Encoded>;
  outputs: Encoded[];
  gradOutputs: Encoded[];
  grads: Record<string, Encoded>;
}

export interface NnGolden {
  torch: string;
  cases: Record<string, GoldenCase>;
  compositeStateDict: [string, number[]][];
  init: Record<string, Record<string, Encoded>>;
}

let cached: NnGolden | undefined;
/** The committed goldens (packages/torch/test/golden/nn_layers.json). */
export function loadGolden(): NnGolden {
  // dist/test/golden/ -> package root -> test/golden/
  cached ??= JSON.parse(readFileSync(new URL('../../../test/golden/nn_layers.json', import.meta.url), 'utf8')) as NnGolden;
  return cached;
}

/** A Tensor holding an encoded golden value. */
export function decode(e: Encoded): Tensor {
  return tensor(e.data, { dtype: e.dtype as DType, shape: e.shape });
}

/**
 * Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise and equal shapes.
 * @param what label for the failure message
 */
export function assertClose(actual: Tensor, expected: Encoded | Tensor, what: string, rtol = 1e-4, atol = 1e-5): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const a = actual.toArray();
  const e = 'handle' in expected ? expected.toArray() : expected.data.map(Number);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const excess = Math.abs(a[i]! - e[i]!) - (atol + rtol * Math.abs(e[i]!));
    if (!(excess <= worst)) {
      worst = Number.isNaN(excess) ? Infinity : excess;
      at = i;
    }
  }
  assert.ok(at < 0, `${what}: element ${at} is ${a[at]}, expected ${e[at]}`);
}
