// A full disk while saving: a clear one-line error, the last good checkpoint intact and loadable,
// no temporary files left. ENOSPC is injected into fs.writeSync (the call every writer of ours
// makes) so it can strike at any byte; a real full file system (a small tmpfs) checks the CLI.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs, { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import path from 'node:path';
import { after, test } from 'node:test';

import * as torch from '@diffuse/torch';

import { isUserError, userMessage } from '../src/cli/errors.js';
import { writeFileAtomicSync } from '../src/io/atomic.js';
import { DiskFullError } from '../src/io/errors.js';
import { loadCheckpoint, saveCheckpoint, stepDirName, type CheckpointContents, type TrainState } from '../src/train/checkpoint.js';
import type { TrainConfig } from '../src/train/config.js';
import { assertUserError, diffuse, TINY_MODEL } from './cli-helpers.js';
import { tempDir } from './io-helpers.js';

const { dir: work, cleanup } = tempDir('disk-full');
after(cleanup);

function enospc(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
}

/**
 * Runs fn as if the disk had `bytes` bytes free: buffer writes through fs.writeSync succeed (short
 * at the end, as the kernel's) until the space is used up, then fail with ENOSPC.
 * @param bytes the free space.
 * @param fn the code under test.
 */
function withFreeSpace<T>(bytes: number, fn: () => T): T {
  const real = fs.writeSync;
  let left = bytes;
  const limited = (fd: number, buffer: NodeJS.ArrayBufferView, offset?: number, length?: number, position?: number | null): number => {
    const len = length ?? buffer.byteLength - (offset ?? 0);
    if (len > 0 && left <= 0) throw enospc();
    const n = real(fd, buffer, offset, Math.min(len, left), position);
    left -= n;
    return n;
  };
  fs.writeSync = limited as typeof fs.writeSync;
  syncBuiltinESMExports(); // so `import { writeSync } from 'node:fs'` sees it too
  try {
    return fn();
  } finally {
    fs.writeSync = real;
    syncBuiltinESMExports();
  }
}

function contents(step: number): Omit<CheckpointContents, 'dir'> {
  torch.manualSeed(step);
  const w = torch.randn([64, 64]);
  const state = { format: 1, step, config: {} as TrainConfig, examples: step, emaRates: [0.9], seconds: 0, createdAt: '' } satisfies TrainState;
  return { state, model: { w }, ema: new Map([[0.9, { w: w.mul(0.5) }]]), trainTensors: { 'adam.m': w.mul(2) } };
}

/** Every file under dir (recursively), by relative name, with its bytes. */
function snapshot(dir: string, prefix = ''): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const e of readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const name = path.join(prefix, e.name);
    if (e.isDirectory()) for (const [n, b] of snapshot(dir, name)) files.set(n, b);
    else files.set(name, readFileSync(path.join(dir, name)));
  }
  return files;
}

test('writeFileAtomicSync on a full disk: the old file stays, no temp file, ENOSPC', () => {
  const dir = path.join(work, 'atomic');
  mkdirSync(dir);
  const file = path.join(dir, 'f.json');
  writeFileSync(file, 'old');
  for (const free of [0, 10, 99]) {
    assert.throws(() => withFreeSpace(free, () => writeFileAtomicSync(file, 'x'.repeat(100))), { code: 'ENOSPC' });
    assert.equal(readFileSync(file, 'utf8'), 'old');
    assert.deepEqual(readdirSync(dir), ['f.json']);
  }
});

test('saveCheckpoint on a full disk, at every file of the save: the last good checkpoint is intact', () => {
  // How many bytes each save writes, in order: model, ema, train-state, state.json, latest.
  const probe = path.join(work, 'probe');
  saveCheckpoint(probe, contents(2));
  const sizes = ['model.safetensors', 'ema-0.9.safetensors', 'train-state.safetensors', 'state.json'].map((n) => fs.statSync(path.join(probe, stepDirName(2), n)).size);
  const total = sizes.reduce((a, b) => a + b, 0);
  const cuts = [0, sizes[0]! >> 1, sizes[0]! + 100, sizes[0]! + sizes[1]! + 100, total - 10, total + 3];
  for (const free of cuts) {
    const root = path.join(work, `root-${free}`);
    saveCheckpoint(root, contents(1));
    const before = snapshot(root);
    let caught: unknown;
    try {
      withFreeSpace(free, () => saveCheckpoint(root, contents(2)));
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof DiskFullError, `free ${free}: ${String(caught)}`);
    assert.equal(caught.code, 'ENOSPC');
    assert.equal(caught.message, `${root}: the disk is full; checkpoint step-0000002 was not saved and the last good checkpoint, step-0000001, is intact. Free some space, then continue with --resume`);
    // The CLI prints it as is (exit 2, the convention of cli/errors.ts for the user's file system).
    assert.ok(isUserError(caught));
    assert.equal(userMessage(caught), caught.message);
    // Nothing of the failed save is left but, when only `latest` failed, the complete step-2.
    const after = snapshot(root);
    assert.deepEqual(readdirSync(root).filter((n) => n.startsWith('.')), [], `free ${free}: no temporary folder or file`);
    for (const [name, bytes] of before) assert.ok(after.get(name)?.equals(bytes), `free ${free}: ${name} unchanged`);
    const extra = [...after.keys()].filter((n) => !before.has(n));
    assert.deepEqual(extra, free === total + 3 ? sizes.map((_, i) => path.join(stepDirName(2), ['model.safetensors', 'ema-0.9.safetensors', 'train-state.safetensors', 'state.json'][i]!)).sort() : [], `free ${free}`);
    const ck = loadCheckpoint(root);
    assert.equal(ck.state.step, 1);
    assert.ok(ck.model.w!.equal(contents(1).model.w!));
  }
  // A first save that fails says there is nothing to go back to.
  assert.throws(() => withFreeSpace(0, () => saveCheckpoint(path.join(work, 'fresh'), contents(1))), /checkpoint step-0000001 was not saved and no earlier checkpoint exists/);
  assert.deepEqual(readdirSync(path.join(work, 'fresh')), []);
  // Other writes that hit a full disk (a log line) still say so on one line.
  assert.match(userMessage(enospc()), /^ENOSPC: no space left on device, write — the disk is full; free space and retry/);
});

test('diffuse train on a full file system (3 MiB tmpfs): one line, exit 2, last checkpoint intact, --resume after freeing space', (t) => {
  const mnt = path.join(work, 'mnt');
  mkdirSync(mnt);
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt], { encoding: 'utf8' });
  if (mount.status !== 0) {
    t.skip(`cannot mount a tmpfs here (${(mount.stderr || mount.error?.message || 'not permitted').trim()}); the ENOSPC-injection tests above cover the writers`);
    return;
  }
  try {
    const out = path.join(mnt, 'run');
    const first = diffuse('train', '--data', 'mnist', '--out', out, ...TINY_MODEL, '--batch-size', '2', '--steps', '1');
    assert.equal(first.code, 0, first.stderr);
    const root = path.join(out, 'checkpoints');
    const before = snapshot(root);
    // Fill the disk, then give back 96 KiB: room for logs, not for a checkpoint (~770 KB).
    const filler = path.join(mnt, 'filler');
    const fd = fs.openSync(filler, 'w');
    const chunk = Buffer.alloc(64 * 1024);
    let size = 0;
    try {
      for (;;) size += fs.writeSync(fd, chunk);
    } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
    }
    fs.ftruncateSync(fd, Math.max(0, size - 96 * 1024));
    fs.closeSync(fd);
    const full = diffuse('train', '--out', out, '--resume', '--steps', '3');
    assertUserError(full, /checkpoints: the disk is full; checkpoint step-0000003 was not saved and the last good checkpoint, step-0000001, is intact\. Free some space, then continue with --resume$/);
    const after = snapshot(root);
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), 'no temporary files left');
    for (const [name, bytes] of before) assert.ok(after.get(name)!.equals(bytes), `${name} unchanged`);
    assert.equal(loadCheckpoint(out).state.step, 1);
    rmSync(filler);
    const resumed = diffuse('train', '--out', out, '--resume', '--steps', '3');
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(loadCheckpoint(out).state.step, 3);
  } finally {
    spawnSync('umount', [mnt]);
  }
});
