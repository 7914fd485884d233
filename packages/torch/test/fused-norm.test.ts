// diffuse::group_norm_act (native/fused_norm.cc) against PyTorch's composition GroupNorm →
// scale-shift → SiLU (golden/fused_norm_gen.py), forward and every gradient, float32 and
// bfloat16 in and out; and its dropout: keep rate, 1/(1 − p) scaling, reproducibility under the
// generator's state, and gradients equal to the composition's with the same mask.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as torch from '../src/index.js';
import type { Tensor } from '../src/index.js';

interface FusedCase {
  shape: number[];
  groups: number;
  inDtype: 'float32' | 'bfloat16';
  outDtype: 'float32' | 'bfloat16';
  silu: boolean;
  inputs: Record<string, number[]>;
  gy: number[];
  y: number[];
  grads: Record<string, number[]>;
}
const golden = JSON.parse(readFileSync(new URL('../../test/golden/fused_norm.json', import.meta.url), 'utf8')) as {
  cases: Record<string, FusedCase>;
};

/** Max |a − b| must stay within rel·max|b| + abs (bfloat16 cases: rel of one bf16 ulp or two). */
function assertNear(ours: Tensor, ref: number[], rel: number, what: string): void {
  const a = ours.to('float32').data() as Float32Array;
  assert.equal(a.length, ref.length, `${what}: length`);
  const scale = Math.max(...ref.map(Math.abs));
  let worst = 0;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(a[i]! - ref[i]!));
  assert.ok(worst <= rel * scale + 1e-7, `${what}: max difference ${worst} (scale ${scale})`);
}

// Every case in the plain (contiguous) layout, and the 4-d ones again with x channels-last (NHWC
// in memory), which takes the pixel kernels and must keep that layout for y and x's gradient.
const layouts = Object.entries(golden.cases).flatMap(([name, c]) =>
  c.shape.length === 4 ? [[name, c, false] as const, [name, c, true] as const] : [[name, c, false] as const],
);
for (const [name, c, channelsLast] of layouts) {
  const label = channelsLast ? `${name} (channels-last)` : name;
  test(`groupNormAct ${label}: output and the gradients of x, weight, bias, scale, shift equal PyTorch's composition`, () => {
    torch.tidy(() => {
      const [b, ch] = c.shape as [number, number];
      const leaf = (k: string, shape: number[], dtype: 'float32' | 'bfloat16' = 'float32') =>
        c.inputs[k] === undefined ? null : torch.tensor(c.inputs[k]!, { shape }).to(dtype).requiresGrad_();
      const x0 = torch.tensor(c.inputs.x!, { shape: c.shape }).to(c.inDtype);
      const x = (channelsLast ? x0.contiguous('channelsLast') : x0).detach().requiresGrad_();
      if (channelsLast) assert.ok(!x.isContiguous() && x.isContiguous('channelsLast'));
      const weight = leaf('weight', [ch]);
      const bias = leaf('bias', [ch]);
      const scale = leaf('scale', [b, ch]);
      const shift = leaf('shift', [b, ch]);
      const y = torch.groupNormAct(x, c.groups, weight, bias, { scale, shift, silu: c.silu, outDtype: c.outDtype });
      assert.equal(y.dtype, c.outDtype);
      assert.deepEqual(y.shape, c.shape);
      assert.equal(y.isContiguous(channelsLast ? 'channelsLast' : 'contiguous'), true, 'y keeps x\'s layout');
      // bfloat16 has 8 significant bits: allow 2^-7 relative (a rounding boundary may fall either way).
      const tolOut = c.outDtype === 'bfloat16' ? 2 ** -7 : 2e-6;
      assertNear(y, c.y, tolOut, 'y');
      y.backward(torch.tensor(c.gy, { shape: c.shape }).to(c.outDtype));
      const leaves: Record<string, Tensor | null> = { x, weight, bias, scale, shift };
      for (const [k, ref] of Object.entries(c.grads)) {
        const g = leaves[k]!.grad!;
        if (k === 'x') assert.equal(g.isContiguous(channelsLast ? 'channelsLast' : 'contiguous'), true, 'grad x keeps x\'s layout');
        assert.equal(g.dtype, leaves[k]!.dtype, `grad ${k} dtype`);
        assert.deepEqual(g.shape, leaves[k]!.shape, `grad ${k} shape`);
        // Gradients through a bfloat16 output start from a bfloat16 gy in both; x's gradient is
        // rounded to bfloat16 when x is.
        assertNear(g, ref, k === 'x' && c.inDtype === 'bfloat16' ? 2 ** -7 : 2e-5, `grad ${k}`);
      }
    });
  });
}

/** The fused op on (8, 64, 16, 16) with FiLM and SiLU; returns the inputs and a closure. */
function dropoutSetup() {
  torch.manualSeed(1);
  const x = torch.randn([8, 64, 16, 16]).requiresGrad_(); // (B, C, H, W)
  const weight = torch.randn([64]).mul_(0.2).add_(1).requiresGrad_();
  const bias = torch.randn([64]).mul_(0.2).requiresGrad_();
  const scale = torch.randn([8, 64]).mul_(0.3).requiresGrad_();
  const shift = torch.randn([8, 64]).mul_(0.3).requiresGrad_();
  const leaves = [x, weight, bias, scale, shift];
  const run = (p: number, training: boolean, generator?: torch.Generator) =>
    torch.groupNormAct(x, 32, weight, bias, { scale, shift, silu: true, dropout: p, training, generator });
  return { x, leaves, run, dispose: () => torch.dispose(leaves) };
}

test('dropout keeps 1 − p of the elements (5σ), independently of the neighbour, scaled by exactly 1/(1 − p)', () => {
  const s = dropoutSetup();
  torch.tidy(() => {
    for (const p of [0.1, 0.5]) {
      const full = s.run(p, false); // the same op without dropout
      const y = s.run(p, true);
      const kept = y.ne(0); // SiLU of a continuous value is never exactly 0
      const n = y.numel();
      const frac = kept.float().mean().item();
      const sigma = Math.sqrt((p * (1 - p)) / n);
      assert.ok(Math.abs(frac - (1 - p)) < 5 * sigma, `p=${p}: kept fraction ${frac}`);
      // Neighbours agree (both kept or both dropped) with probability p² + (1 − p)² when independent.
      const flat = kept.flatten();
      const same = flat.narrow(0, 0, n - 1).eq(flat.narrow(0, 1, n - 1)).float().mean().item();
      assert.ok(Math.abs(same - (p * p + (1 - p) ** 2)) < 5 * Math.sqrt(0.25 / n) * 2, `p=${p}: neighbour agreement ${same}`);
      const expected = torch.where(kept, full.div(1 - p), 0);
      assert.ok(y.sub(expected).abs().max().item() <= 1e-6 * full.abs().max().item(), `p=${p}: kept values`);
    }
  });
  s.dispose();
});

test('dropout mask: the same seed or generator state gives the same mask, another seed another', () => {
  const s = dropoutSetup();
  torch.tidy(() => {
    torch.manualSeed(7);
    const a = s.run(0.3, true);
    torch.manualSeed(7);
    const b = s.run(0.3, true);
    assert.equal(a.sub(b).abs().max().item(), 0);
    const c = s.run(0.3, true); // the generator moved on
    assert.ok(a.ne(0).ne(c.ne(0)).any().item());
    const g = new torch.Generator({ seed: 3 });
    const state = g.getState();
    const d = s.run(0.3, true, g);
    g.setState(state);
    const e = s.run(0.3, true, g);
    assert.equal(d.sub(e).abs().max().item(), 0);
  });
  s.dispose();
});

test('dropout gradients: zero exactly where dropped, and equal to the composition with the same mask', () => {
  const s = dropoutSetup();
  const p = 0.2;
  torch.tidy(() => {
    const gy = torch.randn(s.x.shape);
    torch.manualSeed(21);
    const y = s.run(p, true);
    const keep = y.ne(0).float(); // (B, C, H, W)
    const ours = torch.autograd.grad(y, s.leaves, { gradOutputs: [gy] }) as Tensor[];
    // Where the output was dropped its gradient is exactly zero: the upstream gradient there
    // must not move any input gradient by a single bit.
    const noisy = gy.add(torch.randn(gy.shape).mul(keep.eq(0).float()));
    torch.manualSeed(21);
    const again = torch.autograd.grad(s.run(p, true), s.leaves, { gradOutputs: [noisy] }) as Tensor[];
    ours.forEach((g, i) => assert.equal(g.sub(again[i]!).abs().max().item(), 0, `gradient ${i} moved with a dropped position's upstream gradient`));

    const [x, weight, bias, scale, shift] = s.leaves as [Tensor, Tensor, Tensor, Tensor, Tensor];
    const film = (t: Tensor) => t.unsqueeze(-1).unsqueeze(-1); // (B, C, 1, 1)
    const composed = torch.groupNorm(x, 32, weight, bias).mul(film(scale).add(1)).add(film(shift)).silu().mul(keep).div(1 - p);
    const theirs = torch.autograd.grad(composed, s.leaves, { gradOutputs: [gy] }) as Tensor[];
    ['x', 'weight', 'bias', 'scale', 'shift'].forEach((k, i) => {
      const diff = ours[i]!.sub(theirs[i]!).abs().max().item();
      const scaleOf = theirs[i]!.abs().max().item();
      assert.ok(diff <= 1e-4 * scaleOf, `${k}: gradient difference ${diff} (scale ${scaleOf})`);
    });
  });
  s.dispose();
});

test('the result does not depend on the thread count (per-group work, index-keyed mask)', () => {
  const s = dropoutSetup();
  const before = torch.getNumThreads();
  torch.tidy(() => {
    const gy = torch.randn(s.x.shape);
    const runWith = (threads: number) => {
      torch.setNumThreads(threads);
      torch.manualSeed(9);
      const y = s.run(0.1, true);
      return [y, ...(torch.autograd.grad(y, s.leaves, { gradOutputs: [gy] }) as Tensor[])];
    };
    const one = runWith(1);
    const two = runWith(2);
    one.forEach((t, i) => assert.equal(t.sub(two[i]!).abs().max().item(), 0, `tensor ${i}`));
  });
  torch.setNumThreads(before);
  s.dispose();
});

test('dropout p = 1 zeroes output and gradients; p = 0 or eval mode is the plain op and draws no random numbers', () => {
  const s = dropoutSetup();
  torch.tidy(() => {
    const y = s.run(1, true);
    assert.equal(y.abs().max().item(), 0);
    const gx = torch.autograd.grad(y.sum(), [s.x])[0]!;
    assert.equal(gx.abs().max().item(), 0);
    torch.manualSeed(11);
    const plain = s.run(0.5, false);
    const zero = s.run(0, true);
    assert.equal(plain.sub(zero).abs().max().item(), 0);
    const next = torch.rand([4]);
    torch.manualSeed(11);
    assert.equal(next.sub(torch.rand([4])).abs().max().item(), 0, 'no generator draw without dropout');
  });
  s.dispose();
});

test('group_norm_act is a dispatcher operator: schema, named arguments, one-line errors, no double backward, no graph under noGrad', () => {
  assert.match(torch.schema('diffuse::group_norm_act'), /^diffuse::group_norm_act\(Tensor x, int num_groups/);
  torch.tidy(() => {
    const x = torch.randn([2, 4, 3]); // (B, C, T)
    const y = torch.call<Tensor>('diffuse::group_norm_act', [x, 2], { out_dtype: 'bfloat16' });
    assert.equal(y.dtype, 'bfloat16');
    const ref = torch.groupNorm(x, 2).to('bfloat16');
    assert.equal(y.to('float32').sub(ref.to('float32')).abs().max().item(), 0);
    assert.throws(() => torch.groupNormAct(x, 3, null, null), /not divisible into 3 groups/);
    assert.throws(() => torch.groupNormAct(x.double(), 2, null, null), /float32 or bfloat16/);
    assert.throws(() => torch.groupNormAct(x, 2, null, null, { scale: torch.zeros([3]) }), /B·C = 8 elements/);
    assert.throws(() => torch.groupNormAct(x, 2, null, null, { dropout: 1.5 }), RangeError);
    const xg = x.clone().requiresGrad_();
    const y2 = torch.groupNormAct(xg, 2, null, null, { silu: true });
    assert.throws(() => torch.autograd.grad(y2.sum(), [xg], { createGraph: true }), /double backward/);
    // Without grad mode no graph is recorded (sampling).
    assert.equal(torch.noGrad(() => torch.groupNormAct(xg, 2, null, null)).requiresGrad, false);
  });
});
