// Gradient checkpointing of modules: the checkpointed forward must give the same outputs and
// the same gradients (parameters and inputs) as the plain one, dropout included.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { noGrad } from '../src/autograd.js';
import { rand, randn } from '../src/creation.js';
import { tidy } from '../src/memory.js';
import * as nn from '../src/nn/index.js';
import { manualSeed } from '../src/random.js';
import type { Tensor } from '../src/tensor.js';

/** Output and gradients (input first, then parameters by name) after loss = Σ output·weights. */
function run(module: nn.Module, forward: (x: Tensor) => Tensor, x: Tensor, seed: number): { out: number[]; grads: Map<string, number[]> } {
  return tidy(() => {
    module.zeroGrad();
    const input = x.detach().requiresGrad_(true);
    manualSeed(seed);
    const out = forward(input);
    const weights = randn(out.shape);
    out.mul(weights).sum().backward();
    const grads = new Map<string, number[]>([['input', input.grad!.toArray()]]);
    for (const [k, p] of module.namedParameters()) grads.set(k, p.grad!.toArray());
    return { out: out.toArray(), grads };
  });
}

function assertSame(a: ReturnType<typeof run>, b: ReturnType<typeof run>, what: string): void {
  assert.deepEqual(b.out, a.out, `${what}: output`);
  assert.deepEqual([...b.grads.keys()], [...a.grads.keys()]);
  for (const [k, g] of a.grads) assert.deepEqual(b.grads.get(k), g, `${what}: grad of ${k}`);
}

function mlp(): nn.Sequential {
  return new nn.Sequential(new nn.Linear(16, 32), new nn.GELU(), new nn.Dropout(0.3), new nn.Linear(32, 16), new nn.Dropout(0.2));
}

test('a checkpointed module gives the same output and gradients as the plain one, with dropout', () => {
  manualSeed(0);
  const m = mlp();
  const x = randn([8, 16]);
  const plain = run(m, (h) => m.forward(h), x, 7);
  assert.ok(plain.out.some((v) => v === 0), 'dropout is active');
  nn.checkpointed(m);
  assert.ok(nn.isCheckpointed(m));
  const ckpt = run(m, (h) => m.forward(h), x, 7);
  assertSame(plain, ckpt, 'checkpointed');
  nn.checkpointed(m, false);
  assert.ok(!nn.isCheckpointed(m));
  assertSame(plain, run(m, (h) => m.forward(h), x, 7), 'after turning it off');
});

test('without replaying the random state the recomputed dropout masks differ (the replay matters)', () => {
  manualSeed(1);
  const m = mlp();
  const x = randn([8, 16]);
  const plain = run(m, (h) => m.forward(h), x, 3);
  const noReplay = run(m, (h) => nn.checkpointCall((a) => m.forward(a), [h], m.parameters(), { preserveRngState: false }), x, 3);
  assert.deepEqual(noReplay.out, plain.out, 'the forward itself is unchanged');
  assert.notDeepEqual(noReplay.grads.get('0.weight'), plain.grads.get('0.weight'));
});

test('the random stream after a checkpointed step is where the plain step leaves it', () => {
  manualSeed(2);
  const m = mlp();
  const x = randn([4, 16]);
  const next = (ckpt: boolean): number[] =>
    tidy(() => {
      nn.checkpointed(m, ckpt);
      manualSeed(9);
      m.forward(x.detach().requiresGrad_(true)).sum().backward();
      return rand([4]).toArray();
    });
  assert.deepEqual(next(true), next(false));
});

test('the result of a checkpointed module may be modified in place', () => {
  manualSeed(8);
  const m = new nn.MultiheadAttention(8, 2, { batchFirst: true });
  const forward = (x: Tensor): Tensor => {
    const [out] = m.forward(x, x, x);
    return out.mul_(3).add_(1); // (B, L, E), as a residual update would
  };
  const x = randn([2, 5, 8]);
  const plain = run(m, forward, x, 1);
  nn.checkpointed(m);
  assertSame(plain, run(m, forward, x, 1), 'in place');
});

test('parameters get gradients even when the input does not require grad', () => {
  manualSeed(3);
  const m = nn.checkpointed(new nn.Linear(4, 3));
  const plain = new nn.Linear(4, 3);
  plain.loadStateDict(m.stateDict());
  const x = randn([5, 4]); // no requiresGrad
  m.forward(x).square().sum().backward();
  plain.forward(x).square().sum().backward();
  assert.deepEqual(m.weight.grad!.toArray(), plain.weight.grad!.toArray());
  assert.deepEqual(m.bias!.grad!.toArray(), plain.bias!.grad!.toArray());
});

test('backward recomputes the forward; under noGrad the module just runs once', () => {
  manualSeed(4);
  let calls = 0;
  class Counting extends nn.Linear {
    override forward(x: Tensor): Tensor {
      calls++;
      return super.forward(x);
    }
  }
  const m = nn.checkpointed(new Counting(3, 3));
  const x = randn([2, 3], { requiresGrad: true });
  const y = m.forward(x);
  assert.equal(calls, 1);
  y.sum().backward();
  assert.equal(calls, 2, 'recomputed in backward');
  const z = noGrad(() => m.forward(x));
  assert.equal(calls, 3);
  assert.equal(z.requiresGrad, false);
  assert.deepEqual([...m.stateDict().keys()], ['weight', 'bias'], 'state dict names unchanged');
});

test('MultiheadAttention: tensor and option arguments, [output, weights] results', () => {
  manualSeed(5);
  const m = new nn.MultiheadAttention(8, 2, { batchFirst: true, dropout: 0.25 });
  const kv = randn([2, 6, 8]);
  const keyPaddingMask = rand([2, 6]).gt(0.7);
  const forward = (q: Tensor): Tensor =>
    tidy(() => {
      const [out, w] = m.forward(q, kv, kv, { keyPaddingMask });
      return out.add(w!.sum());
    });
  const q = randn([2, 4, 8]);
  const plain = run(m, forward, q, 11);
  nn.checkpointed(m);
  const ckpt = run(m, forward, q, 11);
  assertSame(plain, ckpt, 'MHA');
  const [, none] = m.forward(q.detach().requiresGrad_(true), kv, kv, { needWeights: false });
  assert.equal(none, null, 'a null result slot survives the checkpoint');
});

test('checkpointed(m, false) restores a forward defined on the instance', () => {
  manualSeed(9);
  class Arrow extends nn.Module {
    lin = this.registerModule('lin', new nn.Linear(2, 2));
    forward = (x: Tensor): Tensor => this.lin.forward(x).tanh();
  }
  const m = new Arrow();
  const own = m.forward;
  nn.checkpointed(m);
  assert.notEqual(m.forward, own);
  const x = randn([3, 2], { requiresGrad: true });
  assert.ok(m.forward(x).equal(own(x)));
  nn.checkpointed(m, false);
  assert.equal(m.forward, own);
});

test('nested checkpoints (a checkpointed block inside a checkpointed model)', () => {
  manualSeed(6);
  const inner = mlp();
  const outer = new nn.Sequential(new nn.Linear(16, 16), inner, new nn.SiLU());
  const x = randn([8, 16]);
  const plain = run(outer, (h) => outer.forward(h), x, 5);
  nn.checkpointed(inner);
  nn.checkpointed(outer);
  assertSame(plain, run(outer, (h) => outer.forward(h), x, 5), 'nested');
});
