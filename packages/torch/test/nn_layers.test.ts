// Every layer against PyTorch 1.13 (golden/nn_gen.py): identical weights loaded through
// loadStateDict give the same outputs and the same gradients for parameters and inputs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ones, zeros } from '../src/creation.js';
import { tidy } from '../src/memory.js';
import * as nn from '../src/nn/index.js';
import { manualSeed } from '../src/random.js';
import type { Tensor } from '../src/tensor.js';
import { assertClose, decode, loadGolden, type GoldenCase } from './golden/nn_golden.js';

const golden = loadGolden();

type Forward = (inputs: Tensor[], extras: Record<string, Tensor>) => Tensor | readonly (Tensor | null)[];
interface Case {
  module: nn.Module;
  forward: Forward;
}
type Unary = nn.Module & { forward(x: Tensor): Tensor };
const unary = (m: Unary): Case => ({ module: m, forward: ([x]) => m.forward(x!) });
const mha = (m: nn.MultiheadAttention, call: (m: nn.MultiheadAttention, inputs: Tensor[], extras: Record<string, Tensor>) => readonly (Tensor | null)[]): Case => ({
  module: m,
  forward: (inputs, extras) => call(m, inputs, extras),
});

// The same structures as nn_gen.py builds; the weights come from the goldens.
const cases: Record<string, () => Case> = {
  linear: () => unary(new nn.Linear(5, 4)),
  linear_nobias: () => unary(new nn.Linear(5, 4, { bias: false })),
  conv1d: () => unary(new nn.Conv1d(4, 6, 3, { stride: 2, padding: 1, groups: 2 })),
  conv2d: () => unary(new nn.Conv2d(4, 6, 3, { stride: 2, padding: 1, groups: 2 })),
  conv2d_dilated: () => unary(new nn.Conv2d(3, 4, [3, 2], { stride: [1, 2], padding: [2, 1], dilation: 2 })),
  conv_transpose2d: () => unary(new nn.ConvTranspose2d(4, 6, 3, { stride: 2, padding: 1, outputPadding: 1, groups: 2 })),
  conv_transpose2d_rect: () => unary(new nn.ConvTranspose2d(3, 2, [2, 3], { stride: [2, 1], padding: [0, 1], dilation: [1, 2], bias: false })),
  group_norm: () => unary(new nn.GroupNorm(2, 6)),
  batch_norm2d: () => unary(new nn.BatchNorm2d(3)),
  layer_norm: () => unary(new nn.LayerNorm([4, 5])),
  layer_norm_plain: () => unary(new nn.LayerNorm(5, { eps: 1e-3, elementwiseAffine: false })),
  embedding: () => unary(new nn.Embedding(10, 4)),
  gelu: () => unary(new nn.GELU()),
  gelu_tanh: () => unary(new nn.GELU('tanh')),
  tanh: () => unary(new nn.Tanh()),
  sigmoid: () => unary(new nn.Sigmoid()),
  flatten: () => unary(new nn.Flatten()),
  upsample: () => unary(new nn.Upsample({ scaleFactor: 2, mode: 'nearest' })),
  avg_pool2d: () => unary(new nn.AvgPool2d(3, { stride: 2, padding: 1, countIncludePad: false })),
  max_pool2d: () => unary(new nn.MaxPool2d(3, { stride: 2, padding: 1 })),
  sequential: () => unary(new nn.Sequential(new nn.Linear(6, 8), new nn.GELU(), new nn.LayerNorm(8), new nn.Linear(8, 3))),
  mha_self: () => mha(new nn.MultiheadAttention(8, 2), (m, [x], e) => m.forward(x!, x!, x!, { keyPaddingMask: e.keyPaddingMask })),
  mha_self_causal: () =>
    mha(new nn.MultiheadAttention(8, 2, { batchFirst: true }), (m, [x], e) => m.forward(x!, x!, x!, { attnMask: e.attnMask, averageAttnWeights: false })),
  mha_cross: () =>
    mha(new nn.MultiheadAttention(8, 2, { batchFirst: true }), (m, [q, k, v], e) =>
      m.forward(q!, k!, v!, { keyPaddingMask: e.keyPaddingMask, attnMask: e.attnMask })),
  mha_cross_mask3d: () =>
    mha(new nn.MultiheadAttention(8, 2, { bias: false }), (m, [q, kv], e) => m.forward(q!, kv!, kv!, { attnMask: e.attnMask, needWeights: false })),
};

/** Loads the golden weights, runs forward and backward, and compares everything. */
function check(name: string, g: GoldenCase): void {
  tidy(() => {
    const { module, forward } = cases[name]!();
    const state = new Map(Object.entries(g.state).map(([k, v]) => [k, decode(v)]));
    assert.deepEqual([...module.stateDict().keys()], [...state.keys()], `${name}: state dict keys`);
    module.loadStateDict(state);
    const inputs = g.inputs.map((e) => {
      const x = decode(e);
      return x.dtype === 'float32' ? x.requiresGrad_(true) : x;
    });
    const extras = Object.fromEntries(Object.entries(g.extras).map(([k, v]) => [k, decode(v)]));
    const out = forward(inputs, extras);
    const outs = (Array.isArray(out) ? out : [out]).filter((t): t is Tensor => t !== null);
    assert.equal(outs.length, g.outputs.length, `${name}: number of outputs`);
    outs.forEach((o, i) => assertClose(o, g.outputs[i]!, `${name}: output ${i}`));
    // loss = Σ_i ⟨output_i, gradOutput_i⟩, as in nn_gen.py
    const loss = outs.map((o, i) => o.mul(decode(g.gradOutputs[i]!)).sum()).reduce((a, b) => a.add(b));
    loss.backward();
    const grads = new Map(module.namedParameters());
    inputs.forEach((x, i) => grads.set(`input${i}`, x));
    assert.deepEqual([...grads.keys()].filter((k) => k in g.grads).sort(), Object.keys(g.grads).sort(), `${name}: gradients present`);
    for (const [k, t] of grads) {
      if (!(k in g.grads)) continue;
      const gr = t.grad;
      assert.ok(gr !== null, `${name}: ${k} has no gradient`);
      assertClose(gr, g.grads[k]!, `${name}: grad of ${k}`);
    }
  });
}

test('goldens cover every case built here', () => {
  assert.deepEqual(Object.keys(golden.cases).sort(), Object.keys(cases).sort());
});

for (const [name, g] of Object.entries(golden.cases)) {
  test(`${name}: forward and gradients match PyTorch`, () => check(name, g));
}

test('BatchNorm2d updates its running statistics as PyTorch does (momentum 0.1, unbiased variance)', () => {
  tidy(() => {
    const g = golden.cases.batch_norm2d!;
    const m = new nn.BatchNorm2d(3);
    m.forward(decode(g.inputs[0]!));
    for (const k of ['running_mean', 'running_var']) assertClose(m.stateDict().get(k)!, g.state[k]!, k);
    assert.equal(m.numBatchesTracked.item(), 1);
    m.eval();
    const before = m.runningMean.toArray();
    m.forward(decode(g.inputs[0]!));
    assert.deepEqual(m.runningMean.toArray(), before, 'eval mode leaves the running mean alone');
  });
});

test('MultiheadAttention returns averaged weights (N, L, S) that sum to 1 over keys', () => {
  tidy(() => {
    const m = new nn.MultiheadAttention(8, 2, { batchFirst: true });
    const g = golden.cases.mha_cross!;
    const [q, k, v] = g.inputs.map(decode) as [Tensor, Tensor, Tensor];
    const [out, w] = m.forward(q, k, v);
    assert.deepEqual(out.shape, [2, 4, 8]);
    assert.deepEqual(w!.shape, [2, 4, 6]);
    assertClose(w!.sum(-1), decode({ shape: [2, 4], dtype: 'float32', data: new Array(8).fill(1) }), 'row sums', 0, 1e-6);
  });
});

test('a composite model has the same state dict names and shapes as PyTorch', () => {
  class Block extends nn.Module {
    norm = this.registerModule('norm', new nn.GroupNorm(4, 16));
    conv = this.registerModule('conv', new nn.Conv2d(16, 16, 3, { padding: 1 }));
    attn = this.registerModule('attn', new nn.MultiheadAttention(16, 4, { batchFirst: true }));
    ln = this.registerModule('ln', new nn.LayerNorm(16));
    pos = this.registerBuffer('pos', zeros([5, 16]));
    cache = this.registerBuffer('cache', zeros([2]), false);
  }
  class Composite extends nn.Module {
    embed = this.registerModule('embed', new nn.Embedding(10, 16));
    stem = this.registerModule('stem', new nn.Sequential(new nn.Conv2d(3, 16, 3, { padding: 1 }), new nn.SiLU(), new nn.Conv2d(16, 16, 1, { bias: false })));
    blocks = this.registerModule('blocks', new nn.ModuleList([new Block(), new Block()]));
    up = this.registerModule('up', new nn.ConvTranspose2d(16, 8, 4, { stride: 2, padding: 1 }));
    head = this.registerModule('head', new nn.Sequential(new nn.Flatten(), new nn.Dropout(0.1), new nn.Linear(8, 2)));
    scale = this.registerBuffer('scale', ones([3])); // PyTorch lists a module's own entries before its children's
  }
  const ours = [...new Composite().stateDict()].map(([k, t]) => [k, t.shape]);
  assert.deepEqual(ours, golden.compositeStateDict);
});

test('default initialisation draws the same weights as PyTorch from the same seed', () => {
  const make: Record<string, () => nn.Module> = {
    linear: () => new nn.Linear(7, 5),
    conv1d: () => new nn.Conv1d(3, 4, 5),
    conv2d: () => new nn.Conv2d(4, 6, 3, { groups: 2 }),
    conv_transpose2d: () => new nn.ConvTranspose2d(4, 6, 3, { groups: 2 }),
    embedding: () => new nn.Embedding(6, 3),
    mha: () => new nn.MultiheadAttention(8, 2),
  };
  assert.deepEqual(Object.keys(golden.init).sort(), Object.keys(make).sort());
  for (const [name, expected] of Object.entries(golden.init)) {
    manualSeed(1234);
    const state = make[name]!().stateDict();
    assert.deepEqual([...state.keys()], Object.keys(expected), `${name}: keys`);
    for (const [k, t] of state) assertClose(t, expected[k]!, `${name}.${k}`, 1e-6, 1e-7);
  }
});
