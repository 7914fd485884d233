// Every op family against PyTorch 1.13: forward outputs and the gradients of
// sum_k (out_k * W_k).sum() for fixed W (goldens from golden/ops_gen.py), plus the random ops
// whose goldens are distributions rather than values (dropout at p = 0.5, multinomial).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as torch from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { assertMatches, FLOAT32_TOL, FLOAT64_TOL, fromEncoded, goldens, lossWeights, type Tolerance } from './golden.js';
import { OPS } from './op_table.js';

const cases = goldens().cases;

function toleranceFor(dtype: string): Tolerance {
  if (dtype === 'float64') return FLOAT64_TOL;
  if (dtype === 'float32') return FLOAT32_TOL;
  return { rtol: 0, atol: 0 }; // integers and booleans must match exactly
}

test('every golden case has an implementation, and every implementation a golden', () => {
  assert.deepEqual(Object.keys(OPS).sort(), Object.keys(cases).sort());
});

for (const [name, c] of Object.entries(cases)) {
  test(`golden: ${name}`, () => {
    const op = OPS[name];
    assert.ok(op, `no implementation for ${name}`);
    torch.tidy(() => {
      const inputs = c.inputs.map((e) => {
        const t = fromEncoded(e);
        return e.grad ? t.requiresGrad_(true) : t;
      });
      const result = op(...inputs);
      const outs: Tensor[] = Array.isArray(result) ? result : [result];
      assert.equal(outs.length, c.outputs.length, 'number of outputs');
      outs.forEach((o, k) => assertMatches(o, c.outputs[k]!, toleranceFor(c.outputs[k]!.dtype), `${name} out${k}`));

      // The golden loss: sum over differentiable outputs of (out * W).sum().
      let loss: Tensor | null = null;
      for (const o of outs) {
        if (!o.requiresGrad) continue;
        const term = o.mul(lossWeights(o)).sum();
        loss = loss === null ? term : loss.add(term);
      }
      if (loss !== null) loss.backward();
      c.grads.forEach((expected, k) => {
        if (expected === null) return;
        const g = inputs[k]!.grad ?? torch.zerosLike(inputs[k]!);
        assertMatches(g, expected, toleranceFor(expected.dtype), `${name} grad${k}`);
      });
    });
  });
}

test('dropout p = 0.5 zeroes about half and scales the rest by 2 (mean kept)', () => {
  torch.manualSeed(0);
  torch.tidy(() => {
    const n = 100_000;
    const y = torch.dropout(torch.ones([n]), 0.5, true);
    const values = y.toArray();
    const zeros = values.filter((v) => v === 0).length;
    assert.ok(values.every((v) => v === 0 || v === 2), 'kept values are scaled by 1/(1-p)');
    // Binomial(n, 1/2): sd of the fraction is 0.0016; 0.01 is over 6 sd.
    assert.ok(Math.abs(zeros / n - 0.5) < 0.01, `zero fraction ${zeros / n}`);
    assert.ok(Math.abs(y.mean().item() - 1) < 0.02, 'mean preserved');
  });
});

test('multinomial draws follow the given probabilities', () => {
  torch.manualSeed(0);
  torch.tidy(() => {
    const p = [0.1, 0.2, 0.3, 0.4, 0];
    const n = 40_000;
    const probs = torch.tensor([p.map((x) => x * 3)]); // unnormalized weights are allowed
    const draws = torch.multinomial(probs, n, true).toArray();
    const counts = p.map((_, k) => draws.filter((d) => d === k).length);
    p.forEach((pk, k) => {
      const sd = Math.sqrt((pk * (1 - pk)) / n);
      assert.ok(Math.abs(counts[k]! / n - pk) <= 5 * sd, `category ${k}: ${counts[k]! / n} vs ${pk}`);
    });
    assert.equal(counts[4], 0, 'a zero-probability category is never drawn');

    // Without replacement, all categories of nonzero weight come out exactly once per row.
    const rows = torch.tensor([[1, 2, 3, 4], [4, 3, 2, 1]]);
    const perm = torch.multinomial(rows, 4, false).toNested() as number[][];
    for (const r of perm) assert.deepEqual([...r].sort(), [0, 1, 2, 3]);
  });
});

test('multinomial with a Generator is reproducible', () => {
  torch.tidy(() => {
    const probs = torch.tensor([0.25, 0.25, 0.5]);
    const a = torch.multinomial(probs, 20, true, new torch.Generator({ seed: 5 })).toArray();
    const b = torch.multinomial(probs, 20, true, new torch.Generator({ seed: 5 })).toArray();
    assert.deepEqual(a, b);
  });
});
