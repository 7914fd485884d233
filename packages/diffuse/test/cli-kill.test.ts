// kill -9 through the real CLI: at arbitrary moments of a run that checkpoints every step the
// latest checkpoint is always complete and loadable, leftovers of the interrupted write are
// ignored, and --resume continues from it; a killed and resumed run logs the uninterrupted run's
// losses and ends with its weights, byte for byte.
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { loadCheckpoint, resolveCheckpointDir } from '../src/train/checkpoint.js';
import type { LogRow } from '../src/train/trainer.js';
import { diffuse, readTrainLog, spawnDiffuse, TINY_MODEL, waitUntil } from './cli-helpers.js';

const TINY = ['--data', 'mnist', ...TINY_MODEL, '--batch-size', '4', '--keep-checkpoints', '2'];

/**
 * Starts `diffuse train ...args --out out`, waits until `ready(out)` holds, waits `ms` more and
 * kills it with SIGKILL.
 * @returns the signal that ended the child (null when it exited by itself first).
 */
async function killWhen(out: string, args: string[], ready: (out: string) => boolean, ms = 0): Promise<NodeJS.Signals | null> {
  const child = spawnDiffuse('train', ...args, '--out', out);
  const ended = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_code, signal) => r(signal)));
  await waitUntil(() => ready(out), 'the moment to kill');
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
  child.kill('SIGKILL');
  return ended;
}

/** Whether a run has its first checkpoint. */
const hasCheckpoint = (out: string): boolean => existsSync(path.join(out, 'checkpoints', 'latest'));

/** The step of the latest checkpoint, as `checkpoints/latest` names it (0 before the first). */
function latestStep(out: string): number {
  try {
    return Number(/step-(\d+)/.exec(readFileSync(path.join(out, 'checkpoints', 'latest'), 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Whether log.jsonl holds a step newer than the latest checkpoint: steps a kill now would lose. */
function loggedPastCheckpoint(out: string): boolean {
  const k = latestStep(out);
  if (k === 0 || !existsSync(path.join(out, 'log.jsonl'))) return false;
  const steps = readFileSync(path.join(out, 'log.jsonl'), 'utf8').match(/"step":\d+/g) ?? [];
  return steps.some((s) => Number(s.slice(7)) > k);
}

test('kill -9 during checkpoint writes leaves the latest checkpoint intact and resumable', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-kill-'));
  try {
    for (const ms of [37, 180, 420]) {
      const out = path.join(dir, `run-${ms}`);
      await killWhen(out, [...TINY, '--save-interval', '1', '--log-interval', '0', '--steps', '100000'], hasCheckpoint, ms);
      const ck = loadCheckpoint(resolveCheckpointDir(out));
      assert.ok(ck.state.step >= 1);
      assert.ok(Object.keys(ck.model).length > 0 && ck.ema.size === 1);
      for (const t of Object.values(ck.model)) assert.ok(t.isfinite().all().item() === 1);
      const resumed = diffuse('train', '--out', out, '--resume', '--steps', String(ck.state.step + 1));
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.equal(loadCheckpoint(resolveCheckpointDir(out)).state.step, ck.state.step + 1);
      // The resumed run's saves pruned whatever the killed write left behind.
      assert.deepEqual(readdirSync(path.join(out, 'checkpoints')).filter((n) => n.startsWith('.')), []);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A log row without its timings (img/s and elapsed seconds differ from run to run). */
function losses(row: LogRow): Omit<LogRow, 'imgPerSec' | 'elapsed'> {
  const { imgPerSec: _i, elapsed: _e, ...rest } = row;
  return rest;
}

/** The files of a checkpoint folder, state.json without its timestamps. */
function checkpointFiles(dir: string): Map<string, Buffer | object> {
  const files = new Map<string, Buffer | object>();
  for (const name of readdirSync(dir).sort()) {
    const bytes = readFileSync(path.join(dir, name));
    if (name !== 'state.json') files.set(name, bytes);
    else {
      const { seconds: _s, createdAt: _c, ...state } = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
      files.set(name, state);
    }
  }
  return files;
}

test('a run killed with -9 and resumed logs the uninterrupted losses and ends with the same bytes', async (t) => {
  const STEPS = 12;
  const args = [...TINY, '--seed', '5', '--save-interval', '2', '--log-interval', '1', '--steps', String(STEPS)];
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-kill-resume-'));
  try {
    const straightOut = path.join(dir, 'straight');
    const straight = diffuse('train', ...args, '--out', straightOut);
    assert.equal(straight.code, 0, straight.stderr);
    const expected = readTrainLog(straightOut);
    assert.deepEqual(expected.map((r) => r.step), Array.from({ length: STEPS }, (_, i) => i + 1));

    // Killed once it has logged a step after a checkpoint (a step the kill loses); where it
    // stood is read from the disk, as the kill may land a step or two later.
    const out = path.join(dir, 'killed');
    assert.equal(await killWhen(out, args, loggedPastCheckpoint), 'SIGKILL', 'the run ended before the kill');
    const k = loadCheckpoint(resolveCheckpointDir(out)).state.step;
    assert.ok(k >= 2 && k < STEPS, `killed between checkpoints 2 and ${STEPS}, latest is ${k}`);
    t.diagnostic(`killed with checkpoint ${k} on disk and steps up to ${readTrainLog(out).at(-1)?.step} logged`);
    // A kill can also land inside a log write: its half a row must not spoil the resumed log.
    appendFileSync(path.join(out, 'log.jsonl'), '{"step":7,"examples":28,"lr":0.0');

    const resumed = diffuse('train', '--out', out, '--resume', '--steps', String(STEPS));
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`resuming .*step-0*${k} at step ${k}`));
    // Each step once, the steps the kill lost logged again by the resumed run, every loss equal
    // to the uninterrupted run's to the last bit (JSON keeps a double's shortest exact form).
    assert.deepEqual(readTrainLog(out).map(losses), expected.map(losses));
    const final = resolveCheckpointDir(out);
    assert.equal(path.basename(final), `step-${String(STEPS).padStart(7, '0')}`);
    assert.deepEqual(checkpointFiles(final), checkpointFiles(resolveCheckpointDir(straightOut)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
