// Autograd beyond single backward passes, checked against closed forms: higher derivatives,
// vector-Jacobian products, grad mode, detach, accumulation, and checkpoint().
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as torch from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { assertAllClose, FLOAT32_TOL } from './golden.js';

const X = [0.5, -1.25, 2, 0.1];

test('grad with createGraph: d/dx x^3 = 3x^2 and d2/dx2 x^3 = 6x', () => {
  torch.tidy(() => {
    const x = torch.tensor(X).requiresGrad_();
    const y = x.pow(3).sum();
    const [g] = torch.autograd.grad(y, x, { createGraph: true });
    assert.ok(g && g.requiresGrad, 'first derivative is itself differentiable');
    assertAllClose(g.toArray(), X.map((v) => 3 * v * v), FLOAT32_TOL, 'dy/dx');
    const [g2] = torch.autograd.grad(g.sum(), x);
    assertAllClose(g2!.toArray(), X.map((v) => 6 * v), FLOAT32_TOL, 'd2y/dx2');
    assert.equal(x.grad, null, 'autograd.grad does not accumulate into .grad');
  });
});

test('backward with a gradient argument computes the vector-Jacobian product', () => {
  torch.tidy(() => {
    const x = torch.tensor(X).requiresGrad_();
    const v = torch.tensor([1, 2, -1, 0.5]);
    x.mul(x).backward(v); // J = diag(2x)
    assertAllClose(x.grad!.toArray(), X.map((xi, i) => 2 * xi * [1, 2, -1, 0.5][i]!), FLOAT32_TOL, 'x.grad');
    assert.throws(() => x.mul(x).backward(), /scalar/, 'a non-scalar needs a gradient');
  });
});

test('gradients accumulate across backward calls until zeroGrad', () => {
  torch.tidy(() => {
    const x = torch.tensor(X).requiresGrad_();
    const y = x.mul(3).sum();
    y.backward(undefined, { retainGraph: true });
    y.backward();
    assert.deepEqual(x.grad!.toArray(), [6, 6, 6, 6]);
    x.zeroGrad();
    assert.equal(x.grad, null);
    x.mul(2).sum().backward();
    assert.deepEqual(x.grad!.toArray(), [2, 2, 2, 2]);
  });
});

test('autograd.grad returns null for unused inputs when allowed, and throws otherwise', () => {
  torch.tidy(() => {
    const a = torch.tensor([1, 2]).requiresGrad_();
    const b = torch.tensor([3, 4]).requiresGrad_();
    const y = a.mul(a).sum();
    const [ga, gb] = torch.autograd.grad(y, [a, b], { allowUnused: true, retainGraph: true });
    assert.deepEqual(ga!.toArray(), [2, 4]);
    assert.equal(gb, null);
    assert.throws(() => torch.autograd.grad(y, [a, b]), Error);
  });
});

test('noGrad records nothing and restores grad mode, also after a throw', () => {
  torch.tidy(() => {
    const x = torch.tensor(X).requiresGrad_();
    const y = torch.noGrad(() => {
      assert.equal(torch.isGradEnabled(), false);
      return x.mul(2);
    });
    assert.equal(y.requiresGrad, false);
    assert.equal(y.gradFn, null);
    assert.equal(torch.isGradEnabled(), true);
    assert.throws(() => torch.noGrad(() => { throw new Error('inside'); }), /inside/);
    assert.equal(torch.isGradEnabled(), true, 'restored after a throw');
    const z = torch.noGrad(() => torch.enableGrad(() => x.mul(2)));
    assert.equal(z.requiresGrad, true, 'enableGrad inside noGrad records');
    assert.match(x.mul(2).gradFn ?? '', /^MulBackward/);
  });
});

test('detach shares storage but cuts the graph', () => {
  torch.tidy(() => {
    const x = torch.tensor(X).requiresGrad_();
    const d = x.detach();
    assert.equal(d.requiresGrad, false);
    assert.ok(d.sharesStorageWith(x));
    const y = x.mul(d).sum(); // d/dx (x * const) = const
    y.backward();
    assertAllClose(x.grad!.toArray(), X, FLOAT32_TOL, 'x.grad');
    assert.equal(d.grad, null);
    assert.ok(x.isLeaf && !y.isLeaf);
  });
});

test('autograd.backward over several outputs sums their contributions', () => {
  torch.tidy(() => {
    const x = torch.tensor(X).requiresGrad_();
    torch.autograd.backward([x.mul(2).sum(), x.mul(x).sum()]);
    assertAllClose(x.grad!.toArray(), X.map((v) => 2 + 2 * v), FLOAT32_TOL, 'x.grad');
  });
});

test('checkpoint() gives the same outputs and gradients as the plain graph', () => {
  torch.tidy(() => {
    torch.manualSeed(0);
    const w = torch.randn([4, 4]).requiresGrad_(); // closed over: a "parameter"
    const block = (a: Tensor): Tensor => a.matmul(w).tanh().mul(a).add(a.sin());
    const run = (useCheckpoint: boolean): { out: number[]; gx: number[]; gw: number[] } => {
      const x = torch.tensor([[0.3, -0.2, 0.9, 1.1], [0.0, 0.5, -0.7, 0.2]]).requiresGrad_();
      const out = useCheckpoint ? torch.checkpoint(block, x)[0]! : block(x);
      out.mul(out).sum().backward();
      const result = { out: out.toArray(), gx: x.grad!.toArray(), gw: w.grad!.toArray() };
      w.zeroGrad();
      return result;
    };
    const plain = run(false);
    const ckpt = run(true);
    assertAllClose(ckpt.out, plain.out, FLOAT32_TOL, 'output');
    assertAllClose(ckpt.gx, plain.gx, FLOAT32_TOL, 'input grad');
    assertAllClose(ckpt.gw, plain.gw, FLOAT32_TOL, 'parameter grad');
    assert.ok(plain.gw.some((v) => v !== 0));
  });
});
