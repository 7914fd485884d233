// Module behaviour: loadStateDict errors and partial loads, default-init statistics, train/eval,
// in-place dtype conversion, shared modules, and ConvTranspose2d output sizes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arange, ones, randn, tensor, zeros } from '../src/creation.js';
import { noGrad } from '../src/autograd.js';
import { tidy } from '../src/memory.js';
import * as nn from '../src/nn/index.js';
import { manualSeed } from '../src/random.js';
import type { Tensor } from '../src/tensor.js';

function stats(t: Tensor): { min: number; max: number; mean: number; std: number } {
  return tidy(() => ({ min: t.min().item(), max: t.max().item(), mean: t.mean().item(), std: t.std().item() }));
}

/** Weights U(−1/√fan_in, 1/√fan_in): inside the bound, std ≈ 1/√(3·fan_in) (kaiming_uniform_ with a = √5). */
function assertDefaultUniform(w: Tensor, fanIn: number, what: string): void {
  const bound = 1 / Math.sqrt(fanIn);
  const s = stats(w);
  assert.ok(s.min >= -bound && s.max <= bound, `${what}: values within ±1/√fan_in`);
  const edge = 1 - 20 / w.numel(); // P(no draw beyond edge·bound) = (1 − 10/n)^n ≈ e^−10
  assert.ok(s.max > edge * bound && s.min < -edge * bound, `${what}: the whole range is used`);
  const std = 1 / Math.sqrt(3 * fanIn);
  assert.ok(Math.abs(s.std / std - 1) < 5 / Math.sqrt(w.numel()), `${what}: std ${s.std} vs ${std}`); // ~5 standard errors
  assert.ok(Math.abs(s.mean) < (5 * std) / Math.sqrt(w.numel()), `${what}: mean ${s.mean}`);
}

class TwoLayers extends nn.Module {
  a = this.registerModule('a', new nn.Linear(3, 4));
  b = this.registerModule('b', new nn.Linear(4, 2));
  steps = this.registerBuffer('steps', zeros([1], { dtype: 'int64' }));
}

test('loadStateDict (strict) names missing keys, unexpected keys and shape mismatches', () => {
  manualSeed(0);
  const m = new TwoLayers();
  const full = new TwoLayers().stateDict();
  const without = new Map(full);
  without.delete('b.bias');
  assert.throws(() => m.loadStateDict(without), /loadStateDict: missing keys: b\.bias$/);
  const extra = new Map(full).set('c.weight', zeros([1]));
  assert.throws(() => m.loadStateDict(extra), /loadStateDict: unexpected keys: c\.weight$/);
  const wrong = new Map(full).set('a.weight', zeros([4, 4]));
  assert.throws(() => m.loadStateDict(wrong), /a\.weight has shape \[4, 4\] but the module expects \[4, 3\]/);
  // Nothing was copied by the failed loads.
  assert.ok(!m.a.weight.equal(full.get('a.weight')!));
});

test('loadStateDict (non-strict) loads the matching keys and reports the rest', () => {
  manualSeed(1);
  const m = new TwoLayers();
  const src = new TwoLayers().stateDict();
  const before = m.b.bias!.clone();
  const partial = new Map(src);
  partial.delete('b.bias');
  partial.set('extra', ones([2]));
  const r = m.loadStateDict(partial, false);
  assert.deepEqual(r, { missingKeys: ['b.bias'], unexpectedKeys: ['extra'] });
  assert.ok(m.a.weight.equal(src.get('a.weight')!));
  assert.ok(m.b.weight.equal(src.get('b.weight')!));
  assert.ok(m.b.bias!.equal(before), 'a missing key leaves the parameter as it was');
  assert.ok(m.a.weight.requiresGrad && m.a.weight.isLeaf, 'loading keeps parameters trainable leaves');
  // A shape mismatch is an error even when not strict, as in PyTorch.
  assert.throws(() => m.loadStateDict(new Map([['a.bias', zeros([3])]]), false), /a\.bias has shape \[3\]/);
});

test('default initialisation statistics follow PyTorch formulas', () => {
  manualSeed(2);
  tidy(() => {
    const lin = new nn.Linear(1024, 512);
    assertDefaultUniform(lin.weight, 1024, 'Linear weight');
    assertDefaultUniform(lin.bias!, 1024, 'Linear bias');
    const conv = new nn.Conv2d(64, 128, 3);
    assertDefaultUniform(conv.weight, 64 * 9, 'Conv2d weight');
    // Transposed: PyTorch's fan_in is weight.size(1)·kH·kW = out/groups·9.
    const convT = new nn.ConvTranspose2d(128, 64, 3);
    assert.deepEqual(convT.weight.shape, [128, 64, 3, 3]);
    assertDefaultUniform(convT.weight, 64 * 9, 'ConvTranspose2d weight');
    assertDefaultUniform(new nn.Conv1d(32, 256, 5).weight, 32 * 5, 'Conv1d weight');

    const emb = stats(new nn.Embedding(2000, 128).weight);
    assert.ok(Math.abs(emb.mean) < 0.01 && Math.abs(emb.std - 1) < 0.01, `Embedding N(0, 1): ${JSON.stringify(emb)}`);

    const E = 256;
    const mha = new nn.MultiheadAttention(E, 4);
    const xavier = Math.sqrt(6 / (E + 3 * E));
    const inProj = stats(mha.inProjWeight);
    assert.ok(inProj.min >= -xavier && inProj.max <= xavier && Math.abs(inProj.std / (xavier / Math.sqrt(3)) - 1) < 0.02, 'xavier_uniform_ in_proj_weight');
    assertDefaultUniform(mha.outProj.weight, E, 'out_proj weight');
    for (const b of [mha.inProjBias!, mha.outProj.bias!]) assert.equal(b.abs().max().item(), 0, 'attention biases start at zero');

    const ln = new nn.LayerNorm([4, 5]);
    assert.ok(ln.weight!.equal(ones([4, 5])) && ln.bias!.equal(zeros([4, 5])));
  });
});

test('train() and eval() switch dropout in every submodule', () => {
  manualSeed(3);
  const drop = new nn.Dropout(0.5);
  const model = new nn.Sequential(new nn.Identity(), drop);
  const x = ones([4000]);
  const y = model.forward(x).toArray();
  const zeroFrac = y.filter((v) => v === 0).length / y.length;
  assert.ok(Math.abs(zeroFrac - 0.5) < 0.05, `train: ${zeroFrac} dropped`);
  assert.ok(y.every((v) => v === 0 || v === 2), 'train: kept values are scaled by 1/(1 − p)');
  model.eval();
  assert.equal(drop.training, false);
  assert.ok(model.forward(x).equal(x), 'eval: identity');
  model.train();
  assert.equal(drop.training, true);

  const mha = new nn.MultiheadAttention(8, 2, { dropout: 0.5, batchFirst: true });
  const q = randn([2, 5, 8]);
  const [, wTrain] = mha.forward(q, q, q, { averageAttnWeights: false });
  assert.ok(wTrain!.eq(0).any().item() === 1, 'attention dropout zeroes weights in training');
  mha.eval();
  const [o1, w1] = mha.forward(q, q, q);
  const [o2] = mha.forward(q, q, q);
  assert.ok(o1.equal(o2), 'eval: deterministic');
  assert.ok(w1!.sum(-1).sub(1).abs().max().item() < 1e-6, 'eval: weights are a distribution');
});

test("to('float64') converts in place and keeps every tensor object", () => {
  manualSeed(4);
  const m = new TwoLayers();
  const params = m.parameters();
  const before = params.map((p) => p.toArray());
  m.to('float64');
  const after = m.parameters();
  after.forEach((p, i) => {
    assert.equal(p, params[i], 'same Tensor object (optimizers keep working)');
    assert.equal(p.dtype, 'float64');
    assert.ok(p.requiresGrad && p.isLeaf);
    assert.deepEqual(p.toArray(), before[i], 'float32 values are exact in float64');
  });
  assert.equal(m.steps.dtype, 'int64', 'integer buffers keep their dtype');
  const x = tensor([[1, 2, 3]], { dtype: 'float64' });
  const y = m.b.forward(m.a.forward(x));
  assert.equal(y.dtype, 'float64');
  y.sum().backward();
  assert.equal(m.a.weight.grad!.dtype, 'float64');
  m.to('float32');
  assert.equal(m.a.weight.dtype, 'float32');
  assert.equal(m.parameters()[0], params[0]);
});

test('a shared module is listed once in parameters() but under every name in stateDict()', () => {
  class Tied extends nn.Module {
    shared = new nn.Linear(2, 2);
    first = this.registerModule('first', this.shared);
    second = this.registerModule('second', this.shared);
  }
  const m = new Tied();
  assert.deepEqual(m.namedParameters().map(([k]) => k), ['first.weight', 'first.bias']);
  assert.deepEqual([...m.stateDict().keys()], ['first.weight', 'first.bias', 'second.weight', 'second.bias']);
  assert.equal(m.modules().length, 2);
});

test('ConvTranspose2d output size: (H − 1)·s − 2p + d·(k − 1) + outputPadding + 1, or a requested size', () => {
  noGrad(() => {
    manualSeed(5);
    const conv = new nn.ConvTranspose2d(2, 3, 3, { stride: 2, padding: 1 });
    const x = randn([1, 2, 5, 6]);
    assert.deepEqual(conv.forward(x).shape, [1, 3, 9, 11]);
    const y = conv.forward(x, [10, 11]);
    assert.deepEqual(y.shape, [1, 3, 10, 11]);
    const padded = new nn.ConvTranspose2d(2, 3, 3, { stride: 2, padding: 1, outputPadding: [1, 0] });
    padded.loadStateDict(conv.stateDict());
    assert.ok(padded.forward(x).equal(y), 'same as the explicit outputPadding');
    assert.throws(() => conv.forward(x, [12, 11]), /not reachable/);
    assert.throws(() => new nn.ConvTranspose2d(2, 3, 3, { stride: 2, outputPadding: 2 }), /outputPadding must be smaller/);
  });
});

test('Upsample, pooling and Flatten shapes', () => {
  noGrad(() => {
    const x = arange(0, 2 * 3 * 4 * 6).reshape([2, 3, 4, 6]);
    assert.deepEqual(new nn.Upsample({ size: [8, 9] }).forward(x).shape, [2, 3, 8, 9]);
    assert.deepEqual(new nn.AvgPool2d(2).forward(x).shape, [2, 3, 2, 3]);
    assert.deepEqual(new nn.MaxPool2d(2).forward(x).shape, [2, 3, 2, 3]);
    // max of each 2×2 block of a row-major ramp is its bottom-right element
    assert.equal(new nn.MaxPool2d(2).forward(x).flatten().toArray()[0], 7);
    assert.deepEqual(new nn.Flatten().forward(x).shape, [2, 72]);
    assert.throws(() => new nn.Upsample({}), /exactly one of size and scaleFactor/);
  });
});
