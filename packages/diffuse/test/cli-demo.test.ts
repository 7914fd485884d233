// `diffuse demo` end to end with a tiny budget: it trains, samples a 64-image grid with a 50-step
// sampler and says where everything is.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { readNpzSync } from '../src/io/npz.js';

const BIN = fileURLToPath(new URL('../../bin/diffuse.js', import.meta.url));

test('diffuse demo trains, samples a grid and prints the paths', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-demo-'));
  const out = path.join(dir, 'demo');
  try {
    const r = spawnSync(process.execPath, [BIN, 'demo', '--out', out, '--minutes', '0.1'], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['samples/grid.png', 'samples/samples.npz', 'loss.png', 'log.jsonl', 'config.json']) assert.ok(existsSync(path.join(out, f)), f);
    for (const f of ['samples/grid.png', 'loss.png', 'log.jsonl']) assert.ok(r.stdout.includes(path.join(out, f)), `stdout names ${f}`);
    const npz = readNpzSync(path.join(out, 'samples', 'samples.npz'));
    assert.deepEqual(npz.get('arr_0')!.shape, [64, 28, 28, 1]);
    const cfg = JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8')) as { model: { modelChannels: number } };
    assert.equal(cfg.model.modelChannels, 32);
    assert.match(r.stdout, /trained \d+ steps/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('train --eval-interval logs FID/KID of the EMA model and a final line', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-eval-'));
  const out = path.join(dir, 'run');
  try {
    const r = spawnSync(
      process.execPath,
      [BIN, 'train', '--data', 'mnist', '--out', out, '--steps', '4', '--eval-interval', '2', '--eval-samples', '20', '--model-channels', '8', '--num-res-blocks', '1', '--attention-ds', '', '--channel-mult', '1,2', '--batch-size', '4', '--threads', '1'],
      { encoding: 'utf8', timeout: 300_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const rows = readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { eval?: boolean; step: number; fid?: number; samples?: number });
    const evals = rows.filter((row) => row.eval);
    assert.deepEqual(evals.map((e) => e.step), [2, 4]);
    for (const e of evals) {
      assert.ok(Number.isFinite(e.fid) && e.fid! > 0, `fid ${e.fid}`);
      assert.equal(e.samples, 20);
    }
    assert.match(r.stdout, /final FID \d+\.\d+ \(KID [-\d.]+\) of the EMA model at step 4/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
