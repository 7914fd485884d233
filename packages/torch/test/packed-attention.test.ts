// diffuse::packed_attention against PyTorch's eager attention (float64 goldens from
// test/golden/packed_attention_gen.py), its errors, and its bfloat16 path against float32.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import * as torch from '../src/index.js';
import { assertAllClose, lossWeights } from './golden.js';

interface AttentionCase {
  heads: number;
  order: 0 | 1;
  shape: number[];
  qkv: number[];
  out: number[];
  grad: number[];
}

const here = path.dirname(fileURLToPath(import.meta.url));
const golden = JSON.parse(readFileSync(path.join(here, '../../test/golden/packed_attention.json'), 'utf8')) as {
  cases: Record<string, AttentionCase>;
};
const TOL = { rtol: 2e-5, atol: 2e-6 };

for (const [name, c] of Object.entries(golden.cases)) {
  test(`packed attention matches PyTorch: ${name}`, () => {
    torch.tidy(() => {
      const qkv = torch.tensor(Float32Array.from(c.qkv), { shape: c.shape }).requiresGrad_();
      const out = torch.packedAttention(qkv, c.heads, c.order === 0 ? 'per-head' : 'per-kind'); // (B, H·C, T)
      assertAllClose(out.toArray() as number[], c.out, TOL, `${name} out`);
      out.mul(lossWeights(out)).sum().backward();
      assertAllClose(qkv.grad!.toArray() as number[], c.grad, TOL, `${name} grad`);
    });
  });
}

test('packed attention in bfloat16 returns bfloat16 close to the float32 result', () => {
  torch.tidy(() => {
    torch.manualSeed(3);
    const x = torch.randn([2, 3 * 4 * 8, 20]); // (B, 3·H·C, T)
    const ref = torch.packedAttention(x, 4);
    const low = torch.packedAttention(x.to('bfloat16'), 4);
    assert.equal(low.dtype, 'bfloat16');
    const err = low.to('float32').sub(ref).abs().max().item() as number;
    assert.ok(err < 0.05, `bf16 error ${err}`);
  });
});

test('packed attention rejects bad shapes with one-line errors', () => {
  torch.tidy(() => {
    const cases: [torch.Tensor, number, RegExp][] = [
      [torch.zeros([2, 10, 4]), 2, /do not split into 3 × 2 heads/],
      [torch.zeros([2, 12]), 2, /must be \(B, 3·H·C, T\)/],
      [torch.zeros([2, 12, 4]), 0, /num_heads must be positive/],
      [torch.zeros([2, 12, 4], { dtype: 'float64' }), 2, /float32 or bfloat16/],
    ];
    for (const [x, heads, re] of cases) {
      assert.throws(() => torch.packedAttention(x, heads), (e: Error) => re.test(e.message) && !e.message.includes('\n'));
    }
    assert.equal(torch.packedAttentionSupported(torch.zeros([1], { dtype: 'float64' })), false);
  });
});
