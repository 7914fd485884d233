// Data-parallel training through the real CLI: `diffuse train --nproc-per-node 2` against one
// process with the same microbatches (bit-equal by construction, see train/data-parallel.ts),
// a resume with another world size, rank-0-only output, and the faults: a worker killed with -9,
// Ctrl-C, an unreachable master and a port in use.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { BIN, readTrainLog, TINY_MODEL } from './cli-helpers.js';

const TINY = ['--data', 'mnist', ...TINY_MODEL, '--batch-size', '8', '--log-interval', '1', '--save-interval', '0', '--dropout', '0.1'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(args: string[], o: { onStdout?: (all: string, pid: number) => void; onTick?: (pid: number) => void; detached?: boolean } = {}): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'train', ...args], { env: { ...process.env, DIFFUSE_THREADS: '1' }, detached: o.detached });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      o.onStdout?.(stdout, child.pid!);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const tick = o.onTick && setInterval(() => o.onTick!(child.pid!), 50);
    child.on('close', (code) => {
      if (tick) clearInterval(tick);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

function latest(out: string): string {
  return path.join(out, 'checkpoints', readFileSync(path.join(out, 'checkpoints', 'latest'), 'utf8').trim());
}

function sameFile(a: string, b: string, name: string): void {
  assert.ok(readFileSync(path.join(a, name)).equals(readFileSync(path.join(b, name))), `${name} differs between ${a} and ${b}`);
}

function workerPids(launcher: number): number[] {
  return readFileSync(`/proc/${launcher}/task/${launcher}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('2 workers × batch 4 = 1 process × microbatch 4 bit for bit; resume on 1 worker continues the same run', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-ddp-'));
  try {
    const two = path.join(dir, 'two');
    const one = path.join(dir, 'one');
    const a = await run([...TINY, '--steps', '4', '--out', two, '--nproc-per-node', '2', '--threads', '2']);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /data-parallel: 2 workers × batch 4 = global batch 8, lr 0\.0002/);
    assert.equal(a.stderr, '');
    const b = await run([...TINY, '--steps', '4', '--out', one, '--nproc-per-node', '1', '--microbatch', '4']);
    assert.equal(b.code, 0, b.stderr);
    // Same losses, gradient norms and weights: same rows, same random draws per microbatch, and
    // the all-reduced gradient a/2 + b/2 is the accumulated one (halving is exact in floats).
    const strip = (rows: ReturnType<typeof readTrainLog>): unknown[] => rows.map(({ imgPerSec: _i, elapsed: _e, ...r }) => r);
    assert.deepEqual(strip(readTrainLog(two)), strip(readTrainLog(one)));
    for (const f of ['model.safetensors', 'ema-0.9999.safetensors']) sameFile(latest(two), latest(one), f);
    // Rank 0 alone wrote the output: one checkpoint, one log row per step.
    assert.deepEqual(readdirSync(path.join(two, 'checkpoints')).filter((n) => n.startsWith('step-')), ['step-0000004']);
    assert.equal(readTrainLog(two).length, 4);

    // Resume the 2-worker run on 1 worker: the global batch order and the seeds go on from step 4.
    const c = await run(['--data', 'mnist', '--log-interval', '1', '--save-interval', '0', '--steps', '6', '--out', two, '--resume', '--nproc-per-node', '1', '--microbatch', '4']);
    assert.equal(c.code, 0, c.stderr);
    const d = await run([...TINY, '--steps', '6', '--out', path.join(dir, 'straight'), '--nproc-per-node', '2', '--threads', '2']);
    assert.equal(d.code, 0, d.stderr);
    for (const f of ['model.safetensors', 'ema-0.9999.safetensors']) sameFile(latest(two), latest(path.join(dir, 'straight')), f);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a worker killed with -9: the launcher names its rank in one line and exits non-zero; the others are gone', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-ddp-kill-'));
  try {
    let workers: number[] = [];
    let killed = false;
    const r = await run([...TINY, '--steps', '100000', '--out', path.join(dir, 'o'), '--nproc-per-node', '2', '--threads', '2', '--dist-timeout', '20'], {
      onStdout(all, pid) {
        if (!killed && (all.match(/^step \d+/gm) ?? []).length >= 2) {
          killed = true;
          workers = workerPids(pid);
          process.kill(workers[1]!, 'SIGKILL');
        }
      },
    });
    assert.ok(killed, r.stderr);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'diffuse: worker rank 1 was killed by SIGKILL; the 1 other worker(s) stopped (the last checkpoint is intact)\n');
    assert.ok(r.ms < 30_000);
    assert.ok(!workers.some(alive));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C stops every worker at the same step with one checkpoint; exit 130', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-ddp-int-'));
  try {
    const out = path.join(dir, 'o');
    let sent = false;
    const r = await run([...TINY, '--steps', '100000', '--out', out, '--nproc-per-node', '2', '--threads', '2'], {
      detached: true, // its own process group, which gets the SIGINT, as a terminal's Ctrl-C
      onStdout(all, pid) {
        if (!sent && (all.match(/^step \d+/gm) ?? []).length >= 2) {
          sent = true;
          process.kill(-pid, 'SIGINT');
        }
      },
    });
    assert.equal(r.code, 130, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /SIGINT received — saving a checkpoint/);
    const steps = readdirSync(path.join(out, 'checkpoints')).filter((n) => n.startsWith('step-'));
    assert.equal(steps.length, 1);
    assert.equal(Number(steps[0]!.slice(5)), readTrainLog(out).at(-1)!.step);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C on one machine of two: both stop at the same step, the other one says why, one checkpoint', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-ddp-nodes-'));
  const probe = createServer();
  await new Promise<void>((res) => probe.listen(0, '127.0.0.1', res));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((res) => probe.close(() => res()));
  try {
    const out = path.join(dir, 'o');
    const node = (rank: number, o: Parameters<typeof run>[1] = {}): Promise<Run> =>
      run([...TINY, '--steps', '100000', '--out', out, '--nproc-per-node', '1', '--threads', '1', '--nnodes', '2', '--node-rank', String(rank), '--master-addr', '127.0.0.1', '--master-port', String(port)], o);
    let steps = 0;
    let sent = false;
    // Node 0 (rank 0, the one that writes) never sees the signal: it learns of it at the next step.
    const lead = node(0, {
      onStdout(all) {
        steps = (all.match(/^step \d+/gm) ?? []).length;
      },
    });
    const other = await node(1, {
      detached: true,
      onTick(pid) {
        if (!sent && steps >= 2) {
          sent = true;
          process.kill(-pid, 'SIGINT');
        }
      },
    });
    const a = await lead;
    assert.ok(sent);
    assert.equal(other.code, 130, other.stderr);
    assert.equal(other.stderr, '', 'a worker that is not rank 0 prints nothing');
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stderr, 'diffuse: another worker was stopped by a signal — saving a checkpoint, then stopping\n');
    const saved = readdirSync(path.join(out, 'checkpoints')).filter((n) => n.startsWith('step-'));
    assert.equal(saved.length, 1);
    assert.equal(Number(saved[0]!.slice(5)), readTrainLog(out).at(-1)!.step);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unreachable master and a port in use are one line and exit 2, not a hang', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-ddp-addr-'));
  const busy = createServer();
  await new Promise<void>((res) => busy.listen(0, '127.0.0.1', res));
  const port = (busy.address() as { port: number }).port;
  try {
    // Node 1 of 2 whose master never comes: the store connection times out.
    const lost = await run([...TINY, '--steps', '2', '--out', path.join(dir, 'a'), '--nproc-per-node', '1', '--nnodes', '2', '--node-rank', '1', '--master-addr', '127.0.0.1', '--master-port', String(port + 1), '--dist-timeout', '2']);
    assert.equal(lost.code, 2);
    assert.match(lost.stderr, /^diffuse: distributed \(rank 1\): connecting to the rendezvous store at 127\.0\.0\.1:\d+ failed: .*timed out.* — check --master-addr \/ --master-port[^\n]*\n$/);
    assert.ok(lost.ms < 15_000);
    const used = await run([...TINY, '--steps', '2', '--out', path.join(dir, 'b'), '--nproc-per-node', '2', '--threads', '2', '--master-port', String(port), '--dist-timeout', '5']);
    assert.equal(used.code, 2);
    assert.match(used.stderr, /^diffuse: distributed \(rank 0\): starting the rendezvous store on 127\.0\.0\.1:\d+ failed: .*Address already in use[^\n]*\n$/);
    assert.ok(!existsSync(path.join(dir, 'b', 'checkpoints')));
  } finally {
    busy.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
