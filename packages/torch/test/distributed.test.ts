// torch.distributed and DistributedDataParallel across real processes (distributed_child.ts):
// collectives on 2 and 3 ranks against closed forms, DDP gradients against one process on the
// whole batch, and the failures (dead peer, unreachable store, port in use) as one line in time.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const child = fileURLToPath(new URL('./distributed_child.js', import.meta.url));

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: unknown;
  err: string;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((res) => s.listen(0, '127.0.0.1', res));
  const port = (s.address() as { port: number }).port;
  await new Promise((res) => s.close(res));
  return port;
}

function runRank(scenario: string, env: Record<string, string>): Promise<Ran> {
  return new Promise((resolve) => {
    // c10d logs socket retries through glog; the errors reach us as exceptions anyway.
    const p = spawn(process.execPath, [child, scenario], { env: { ...process.env, GLOG_minloglevel: '3', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code, signal) => resolve({ code, signal, out: out.trim() ? JSON.parse(out.trim().split('\n').pop()!) : null, err: err.trim() }));
  });
}

async function runGroup(n: number, scenario: string, extra: Record<string, string> = {}): Promise<Ran[]> {
  const port = await freePort();
  return Promise.all(
    Array.from({ length: n }, (_, r) =>
      runRank(scenario, { RANK: String(r), WORLD_SIZE: String(n), LOCAL_RANK: String(r), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), ...extra }),
    ),
  );
}

for (const n of [2, 3]) {
  test(`collectives on ${n} processes: sum over dtypes, max/min/product, avg, broadcast, allGather, async, non-contiguous`, async () => {
    const ranks = await runGroup(n, 'collectives');
    const tri = (n * (n + 1)) / 2; // Σ (r + 1)
    const ids = Array.from({ length: n }, (_, r) => r);
    for (const [r, ran] of ranks.entries()) {
      assert.equal(ran.code, 0, `rank ${r}: ${ran.err}`);
      const o = ran.out as Record<string, unknown>;
      for (const dtype of ['float32', 'float64', 'bfloat16', 'float16', 'int32', 'int64', 'uint8', 'int8']) {
        assert.deepEqual(o[`sum_${dtype}`], [dtype, [tri, 2 * tri, 3 * n]], `rank ${r} sum ${dtype}`);
      }
      assert.deepEqual(o.max, [n - 1, 0, n + 1]);
      assert.deepEqual(o.min, [0, -(n - 1), 2]);
      assert.deepEqual(o.product, [0, 0, ids.reduce((p, i) => p * (i + 2), 1)]); // rank 0 contributes 0 and -0 (int64: 0)
      assert.deepEqual(o.avg, [(n - 1) / 2, 1, n - 1]);
      // The transposed view received the sum: base (2, 3) = arange(6) * Σ (r + 1).
      assert.deepEqual(o.nonContiguous, { contiguous: false, values: [[0, 1, 2].map((v) => v * tri), [3, 4, 5].map((v) => v * tri)] });
      assert.deepEqual(o.broadcast, [(n - 1) * 10, (n - 1) * 10 + 1]);
      assert.deepEqual(o.broadcastNonContiguous, [[100, 102], [101, 103]]);
      assert.deepEqual(o.allGather, ids.map((i) => [i, i * i]));
      assert.deepEqual(o.async, [tri, 10 * n, true]);
      assert.deepEqual(o.asyncGather, ids);
    }
  });
}

test('DistributedDataParallel on 2 processes: same weights everywhere, gradients of the whole batch, noSync accumulation', async () => {
  const ranks = await runGroup(2, 'ddp');
  type D = { weights: number[][]; synced: number[][]; reference: number[][]; accumulated: number[][]; afterLocal: number[][] };
  const [a, b] = ranks.map((ran, r) => {
    assert.equal(ran.code, 0, `rank ${r}: ${ran.err}`);
    return ran.out as D;
  });
  // Rank 1 initialised other weights (seed 101); the broadcast made them rank 0's exactly.
  assert.deepEqual(b!.weights, a!.weights);
  // Averaged gradients of the two half-batch means = the gradient of the whole-batch mean, up to
  // float32 summation order (the batch is summed in two halves, then averaged): |Δ| ≤ 1e-6.
  const maxDiff = (x: number[][], y: number[][]): number => Math.max(...x.flat().map((v, i) => Math.abs(v - y.flat()[i]!)));
  for (const d of [a!, b!]) {
    assert.ok(maxDiff(d.synced, d.reference) < 1e-6, `synced ${maxDiff(d.synced, d.reference)}`);
    assert.ok(maxDiff(d.accumulated, d.reference) < 1e-6, `accumulated ${maxDiff(d.accumulated, d.reference)}`);
    // Inside noSync nothing was communicated: the local half-gradient is far from the average.
    assert.ok(maxDiff(d.afterLocal, d.reference) > 1e-3, 'noSync must not all-reduce');
  }
  assert.deepEqual(a!.synced, b!.synced, 'every rank holds the same all-reduced gradient');
});

test('a peer killed with -9 during all-reduces: the others fail within the timeout with one line', async () => {
  const t0 = Date.now();
  const ranks = await runGroup(3, 'die', { DIST_TIMEOUT_MS: '10000' });
  assert.ok(Date.now() - t0 < 15000, `took ${Date.now() - t0} ms`);
  assert.equal(ranks[1]!.signal, 'SIGKILL');
  for (const r of [0, 2]) {
    assert.equal(ranks[r]!.code, 3, `rank ${r} ${ranks[r]!.err}`);
    assert.match(ranks[r]!.err, new RegExp(`^ERROR distributed \\(rank ${r}\\): allReduce\\(sum\\) failed: .+$`));
  }
});

test('an unreachable store and a port in use end with one line, not a hang', async () => {
  const port = await freePort(); // nothing listens there
  const t0 = Date.now();
  const lost = await runRank('init-only', { RANK: '1', WORLD_SIZE: '2', DIST_TIMEOUT_MS: '1500', DIST_INIT: `tcp://127.0.0.1:${port}` });
  assert.ok(Date.now() - t0 < 8000);
  assert.equal(lost.code, 3);
  assert.match(lost.err, new RegExp(`^ERROR distributed \\(rank 1\\): connecting to the rendezvous store at 127\\.0\\.0\\.1:${port} failed: [^\\n]*timed out[^\\n]*$`));
  const busy: Server = createServer();
  await new Promise<void>((res) => busy.listen(0, '127.0.0.1', res));
  const used = (busy.address() as { port: number }).port;
  try {
    const r = await runRank('init-only', { RANK: '0', WORLD_SIZE: '2', DIST_TIMEOUT_MS: '1500', DIST_INIT: `tcp://127.0.0.1:${used}` });
    assert.equal(r.code, 3);
    assert.match(r.err, new RegExp(`^ERROR distributed \\(rank 0\\): starting the rendezvous store on 127\\.0\\.0\\.1:${used} failed: [^\\n]*Address already in use[^\\n]*$`));
  } finally {
    busy.close();
  }
});

test("backend 'nccl' without NCCL compiled in and bad arguments are one clear error", async () => {
  const torch = await import('../src/index.js');
  assert.throws(() => torch.distributed.initProcessGroup({ backend: 'nccl', rank: 0, worldSize: 1, initMethod: 'tcp://127.0.0.1:1' }), /backend 'nccl' is not compiled into this build/);
  assert.throws(() => torch.distributed.initProcessGroup({ rank: 2, worldSize: 2, initMethod: 'tcp://127.0.0.1:1' }), /rank must be an integer in \[0, 1\], got 2/);
  assert.throws(() => torch.distributed.initProcessGroup({ rank: 0, worldSize: 1, initMethod: 'udp://x' }), /initMethod must be 'env:\/\/' or 'tcp:\/\/host:port'/);
  assert.throws(() => torch.distributed.allReduce(torch.ones([1])), /needs a process group/);
});
