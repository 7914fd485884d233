// SIGINT and SIGTERM during `diffuse train` save a checkpoint and exit 130 / 143, and
// `--resume` then continues from it.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/diffuse.js', import.meta.url));
const TINY = ['--data', 'mnist', '--image-size', '8', '--channel-mult', '1,2', '--model-channels', '8', '--num-res-blocks', '1', '--attention-ds', '', '--batch-size', '4', '--log-interval', '1', '--save-interval', '0'];

async function interrupt(signal: 'SIGINT' | 'SIGTERM', out: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'train', ...TINY, '--out', out, '--steps', '100000'], { env: { ...process.env, DIFFUSE_THREADS: '1' } });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      // Wait for a few logged steps, so the signal lands mid-training.
      if ((stdout.match(/^step \d+/gm) ?? []).length >= 3) resolve();
    });
    child.on('exit', () => reject(new Error(`exited before training: ${stderr}`)));
  });
  child.kill(signal);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { code, stderr };
}

test('SIGINT and SIGTERM save a checkpoint and exit 130 / 143; --resume continues', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-signal-'));
  try {
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      const out = path.join(dir, signal);
      const r = await interrupt(signal, out);
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, new RegExp(`${signal} received`));
      const latest = readFileSync(path.join(out, 'checkpoints', 'latest'), 'utf8').trim();
      const state = JSON.parse(readFileSync(path.join(out, 'checkpoints', latest, 'state.json'), 'utf8')) as { step: number };
      assert.ok(state.step >= 3, `saved at step ${state.step}`);
      if (signal === 'SIGINT') {
        const resumed = spawnSync(process.execPath, [BIN, 'train', '--out', out, '--resume', '--steps', String(state.step + 2)], { encoding: 'utf8', env: { ...process.env, DIFFUSE_THREADS: '1' } });
        assert.equal(resumed.status, 0, resumed.stderr);
        assert.match(resumed.stdout, new RegExp(`resuming .* at step ${state.step}`));
        assert.match(resumed.stdout, new RegExp(`step ${state.step + 2}`));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGTERM to the npx that started `diffuse train` stops the training with a checkpoint (no orphan left training)', async (t) => {
  const root = fileURLToPath(new URL('../../../../', import.meta.url));
  const npx = path.join(path.dirname(process.execPath), 'npx');
  if (!existsSync(npx)) return t.skip(`no npx beside ${process.execPath}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-npx-'));
  const out = path.join(dir, 'run');
  // npx runs the bin behind `sh -c`: npx → sh → node diffuse.js. Only npx gets the signal.
  const child = spawn(npx, ['--no-install', 'diffuse', 'train', ...TINY, '--out', out, '--steps', '100000'], {
    cwd: root, env: { ...process.env, DIFFUSE_THREADS: '1' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // The pipes close when the last process holding them, the training, has exited.
  const closed = new Promise<void>((resolve) => child.stdout.on('close', resolve));
  try {
    for (let i = 0; i < 600 && (stdout.match(/^step \d+/gm) ?? []).length < 3; i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok((stdout.match(/^step \d+/gm) ?? []).length >= 3, `no training through npx: ${stderr}`);
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([closed.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 60_000)))]);
    clearTimeout(timer);
    assert.ok(ended, 'the training outlived npx by a minute');
    assert.match(stderr, /npm, which started this command, has exited/);
    assert.match(stdout, /stopped by SIGTERM: step \d+/);
    const latest = readFileSync(path.join(out, 'checkpoints', 'latest'), 'utf8').trim();
    const state = JSON.parse(readFileSync(path.join(out, 'checkpoints', latest, 'state.json'), 'utf8')) as { step: number };
    assert.ok(state.step >= 3, `saved at step ${state.step}`);
  } finally {
    spawnSync('pkill', ['-f', out]); // an orphan, if this test fails
    rmSync(dir, { recursive: true, force: true });
  }
});
