// kill -9 at arbitrary moments of a run that checkpoints every step: the latest checkpoint is
// always complete and loadable, leftovers of the interrupted write are ignored, and --resume
// continues from it.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { loadCheckpoint, resolveCheckpointDir } from '../src/train/checkpoint.js';

const BIN = fileURLToPath(new URL('../../bin/diffuse.js', import.meta.url));
const TINY = ['--data', 'mnist', '--image-size', '8', '--channel-mult', '1,2', '--model-channels', '8', '--num-res-blocks', '1', '--attention-ds', '', '--batch-size', '4', '--save-interval', '1', '--keep-checkpoints', '2', '--log-interval', '0'];

async function killAfter(out: string, ms: number): Promise<void> {
  const child = spawn(process.execPath, [BIN, 'train', ...TINY, '--out', out, '--steps', '100000'], { env: { ...process.env, DIFFUSE_THREADS: '1' }, stdio: 'ignore' });
  // Wait until the first checkpoint exists, then let it write a while and kill it mid-flight.
  const root = path.join(out, 'checkpoints');
  const start = Date.now();
  while (!existsSync(path.join(root, 'latest'))) {
    if (Date.now() - start > 60_000) throw new Error('no checkpoint within 60 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, ms));
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
}

test('kill -9 during checkpoint writes leaves the latest checkpoint intact and resumable', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-kill-'));
  try {
    for (const ms of [37, 180, 420]) {
      const out = path.join(dir, `run-${ms}`);
      await killAfter(out, ms);
      const ck = loadCheckpoint(resolveCheckpointDir(out));
      assert.ok(ck.state.step >= 1);
      assert.ok(Object.keys(ck.model).length > 0 && ck.ema.size === 1);
      for (const t of Object.values(ck.model)) assert.ok(t.isfinite().all().item() === 1);
      const resumed = spawnSync(process.execPath, [BIN, 'train', '--out', out, '--resume', '--steps', String(ck.state.step + 1)], { encoding: 'utf8', env: { ...process.env, DIFFUSE_THREADS: '1' } });
      assert.equal(resumed.status, 0, resumed.stderr);
      assert.equal(loadCheckpoint(resolveCheckpointDir(out)).state.step, ck.state.step + 1);
      // The resumed run's saves pruned whatever the killed write left behind.
      assert.deepEqual(readdirSync(path.join(out, 'checkpoints')).filter((n) => n.startsWith('.')), []);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
