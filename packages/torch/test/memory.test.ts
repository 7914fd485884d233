// Memory: a long training loop holds a constant number of live tensors and a flat RSS, and the
// disposal rules (views, storages, tidy, using, dispose errors, the GC backstop) hold.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import * as torch from '../src/index.js';
import type { Tensor } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** A tiny conv + linear regressor, trained by plain SGD with in-place updates. */
function makeModel(): { params: Tensor[]; step: (x: Tensor, y: Tensor) => number } {
  torch.manualSeed(0);
  const convW = torch.randn([4, 1, 3, 3]).mul_(0.3).requiresGrad_(); // (C_out, C_in, k, k)
  const convB = torch.zeros([4]).requiresGrad_();
  const linW = torch.randn([2, 4 * 6 * 6]).mul_(0.05).requiresGrad_(); // (out, in)
  const linB = torch.zeros([2]).requiresGrad_();
  const params = [convW, convB, linW, linB];
  const step = (x: Tensor, y: Tensor): number =>
    torch.tidy(() => {
      const h = torch.conv2d(x, convW, convB).silu(); // (B, 4, 6, 6)
      const out = torch.linear(h.flatten(1), linW, linB); // (B, 2)
      const loss = torch.mseLoss(out, y);
      loss.backward();
      torch.noGrad(() => {
        for (const p of params) {
          p.sub_(p.grad!, 0.01);
          p.zeroGrad();
        }
      });
      return loss.item();
    });
  return { params, step };
}

test('10,000 training steps: live tensors exactly constant, RSS flat (within 10%)', () => {
  // One thread: these ops are tiny, and on a loaded machine every 2-thread OpenMP region (each
  // conv) waits for a second core; that made this test 25x slower without changing what it checks.
  const threads = torch.getNumThreads();
  torch.setNumThreads(1);
  const { params, step } = makeModel();
  const x = torch.randn([4, 1, 8, 8]); // (B, C, H, W)
  const y = torch.randn([4, 2]);
  let at1000: { tensors: number; storages: number; bytes: number } | undefined;
  let rss1000 = 0;
  let first = 0;
  let last = 0;
  for (let i = 1; i <= 10_000; i++) {
    last = step(x, y);
    if (i === 1) first = last;
    if (i === 1_000) {
      at1000 = torch.memory();
      rss1000 = process.memoryUsage().rss;
    }
  }
  const at10000 = torch.memory();
  const rss10000 = process.memoryUsage().rss;
  assert.deepEqual(at10000, at1000, 'tensors, storages and bytes unchanged from step 1,000 to 10,000');
  assert.equal(at10000.tensors, torch.memory().tensors);
  const growth = (rss10000 - rss1000) / rss1000;
  assert.ok(Math.abs(growth) <= 0.1, `RSS ${(rss1000 / 2 ** 20).toFixed(0)} -> ${(rss10000 / 2 ** 20).toFixed(0)} MiB`);
  assert.ok(last < first, `the loop trains (loss ${first} -> ${last})`);
  torch.dispose([params, x, y]);
  torch.setNumThreads(threads);
});

test('disposing a view keeps the base data; bytes count once per storage', () => {
  const m0 = torch.memory();
  const base = torch.arange(6); // 6 float32 = 24 bytes
  const view = base.view([2, 3]);
  const m1 = torch.memory();
  assert.equal(m1.tensors - m0.tensors, 2);
  assert.equal(m1.storages - m0.storages, 1, 'a view shares its base storage');
  assert.equal(m1.bytes - m0.bytes, 24);
  view.dispose();
  assert.deepEqual(base.toArray(), [0, 1, 2, 3, 4, 5]);
  const again = base.view([3, 2]);
  base.dispose(); // the view alone keeps the storage alive
  assert.deepEqual(again.toArray(), [0, 1, 2, 3, 4, 5]);
  assert.equal(torch.memory().bytes - m0.bytes, 24);
  again.dispose();
  assert.deepEqual(torch.memory(), m0);
  const copy = torch.arange(6);
  const cloned = copy.clone();
  assert.equal(torch.memory().bytes - m0.bytes, 48, 'a clone is a second storage');
  torch.dispose([copy, cloned]);
  assert.deepEqual(torch.memory(), m0);
});

test('tidy keeps returned tensors (nested in arrays, objects and maps) and disposes the rest', () => {
  const m0 = torch.memory().tensors;
  let temp: Tensor | undefined;
  const result = torch.tidy(() => {
    temp = torch.ones([2]);
    const a = temp.add(1);
    const b = temp.mul(3);
    const c = temp.neg();
    return { a, list: [b, { c }], map: new Map([['d', torch.zeros([1])]]), n: 3 };
  });
  assert.ok(temp!.isDisposed, 'an intermediate is disposed');
  assert.deepEqual(result.a.toArray(), [2, 2]);
  assert.deepEqual((result.list[0] as Tensor).toArray(), [3, 3]);
  assert.equal(torch.memory().tensors - m0, 4);
  torch.dispose(result);
  assert.equal(torch.memory().tensors, m0);
});

test('nested tidy hands results to the outer scope; keep() outlives every scope', () => {
  const m0 = torch.memory().tensors;
  let inner: Tensor | undefined;
  let kept: Tensor | undefined;
  torch.tidy(() => {
    inner = torch.tidy(() => torch.ones([3]).mul(2));
    kept = torch.zeros([2]).keep();
    assert.equal(inner.isDisposed, false, 'alive in the outer scope');
  });
  assert.ok(inner!.isDisposed, 'disposed when the outer scope ends');
  assert.equal(kept!.isDisposed, false);
  kept!.dispose();
  assert.equal(torch.memory().tensors, m0);
});

test('tidy disposes everything on a throw, and refuses async functions', () => {
  const m0 = torch.memory().tensors;
  let made: Tensor | undefined;
  assert.throws(
    () =>
      torch.tidy(() => {
        made = torch.ones([4]);
        made.add(1);
        throw new Error('boom');
      }),
    /boom/,
  );
  assert.ok(made!.isDisposed);
  assert.equal(torch.memory().tensors, m0);
  assert.throws(() => torch.tidy((async () => torch.ones([1])) as unknown as () => Tensor), TypeError);
  assert.equal(torch.memory().tensors, m0);
});

test('`using` disposes at the end of the block', () => {
  const m0 = torch.memory().tensors;
  let escaped: Tensor | undefined;
  {
    using t = torch.ones([5]);
    escaped = t;
    assert.equal(torch.memory().tensors, m0 + 1);
  }
  assert.ok(escaped.isDisposed);
  assert.equal(torch.memory().tensors, m0);
});

test('a disposed tensor throws a clear one-line error when used; dispose is idempotent', () => {
  const t = torch.ones([2]);
  const u = torch.ones([2]);
  t.dispose();
  t.dispose();
  for (const use of [() => t.add(1), () => u.add(t), () => t.toArray(), () => t.shape, () => torch.cat([u, t])]) {
    assert.throws(use, (e: unknown) => e instanceof Error && /after dispose/.test(e.message) && !e.message.includes('\n'));
  }
  assert.deepEqual(u.toArray(), [1, 1], 'other tensors are unaffected');
  u.dispose();
});

test('forgotten tensors are reclaimed after GC (child process with --expose-gc)', () => {
  const child = path.join(here, 'gc_child.js');
  const r = spawnSync(process.execPath, ['--expose-gc', child], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const { before, created, after } = JSON.parse(r.stdout) as Record<string, { tensors: number; bytes: number }>;
  assert.equal(created!.tensors - before!.tensors, 100);
  assert.equal(created!.bytes - before!.bytes, 100 * 2 ** 20);
  assert.deepEqual(after, before);
});
