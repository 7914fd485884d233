// Training checkpoints: a round trip restores every piece of state, and N steps + resume + N
// steps equals 2N straight steps bit for bit (weights, EMA, optimizer moments, RNG, data).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import * as torch from '@diffuse/torch';

import { U8ArrayDataset } from '../src/data/array-dataset.js';
import { BatchLoader, type LoaderPosition } from '../src/data/loader.js';
import { listCheckpoints, loadCheckpoint, resolveCheckpointDir, type CheckpointContents } from '../src/train/checkpoint.js';
import { resolveConfig, type TrainConfig } from '../src/train/config.js';
import { train } from '../src/train/trainer.js';

torch.setNumThreads(2);

function tinyConfig(steps: number): TrainConfig {
  return resolveConfig(undefined, {
    model: { imageSize: 8, channels: 1, modelChannels: 8, numResBlocks: 1, channelMult: [1, 2], attentionDs: [2], numHeads: 2, dropout: 0.1, numClasses: 3 },
    diffusion: { diffusionSteps: 50, noiseSchedule: 'cosine', meanType: 'epsilon', varType: 'learned_range', loss: 'rescaled_mse' },
    optim: { lr: 1e-3, batchSize: 6, microbatch: 4, emaRates: [0.9, 0.99], warmupSteps: 2, classDropout: 0.2, scheduleSampler: 'loss-second-moment' },
    run: { data: 'test', steps, logInterval: 0, saveInterval: 0, keepCheckpoints: 2, seed: 7, classCond: true },
  });
}

function dataset(): U8ArrayDataset {
  const n = 30;
  const images = new Uint8Array(n * 64);
  let s = 12345;
  for (let i = 0; i < images.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    images[i] = s >>> 24;
  }
  const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
  return new U8ArrayDataset({ images, n, height: 8, width: 8, channels: 1, labels, numClasses: 3 });
}

async function run(cfg: TrainConfig, root: string, resume?: CheckpointContents): Promise<CheckpointContents> {
  const loader = new BatchLoader(dataset(), { batchSize: cfg.optim.batchSize, seed: cfg.run.seed, randomFlip: true, position: resume?.state.data as LoaderPosition | undefined });
  try {
    await train({ config: cfg, checkpointRoot: root, data: loader, resume });
  } finally {
    await loader.close();
  }
  return loadCheckpoint(resolveCheckpointDir(root));
}

function assertSameTensors(a: Record<string, torch.Tensor>, b: Record<string, torch.Tensor>, what: string): void {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), `${what}: keys`);
  for (const k of Object.keys(a)) assert.ok(a[k]!.equal(b[k]!), `${what}: ${k} differs`);
}

test('N steps + resume + N steps equals 2N steps bit for bit', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-resume-'));
  try {
    const straight = await run(tinyConfig(6), path.join(dir, 'straight'));
    const first = await run(tinyConfig(3), path.join(dir, 'split'));
    assert.equal(first.state.step, 3);
    const resumed = await run({ ...first.state.config, run: { ...first.state.config.run, steps: 6 } }, path.join(dir, 'split'), first);
    assert.equal(resumed.state.step, 6);
    assert.equal(straight.state.step, 6);
    assertSameTensors(straight.model, resumed.model, 'model');
    for (const rate of [0.9, 0.99]) assertSameTensors(straight.ema.get(rate)!, resumed.ema.get(rate)!, `ema ${rate}`);
    assertSameTensors(straight.trainTensors, resumed.trainTensors, 'optimizer + rng');
    assert.deepEqual(straight.state.data, resumed.state.data);
    assert.deepEqual(straight.state.scheduleSampler, resumed.state.scheduleSampler);
    assert.deepEqual(straight.state.optimizer, resumed.state.optimizer);
    // Training moved the weights away from the first checkpoint's (the test can fail).
    assert.ok(!first.model['out.2.weight']!.equal(resumed.model['out.2.weight']!));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('checkpoints are complete, atomic directories, and only the last K are kept', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-ckpt-'));
  try {
    const cfg = tinyConfig(4);
    cfg.run.saveInterval = 1;
    cfg.optim.emaWarmup = false; // with warmup both rates use (1+n)/(10+n) this early
    const ck = await run(cfg, dir);
    assert.deepEqual(listCheckpoints(dir), ['step-0000003', 'step-0000004']);
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('.')), [], 'no temporary leftovers');
    const files = readdirSync(ck.dir).sort();
    assert.deepEqual(files, ['ema-0.9.safetensors', 'ema-0.99.safetensors', 'model.safetensors', 'state.json', 'train-state.safetensors']);
    assert.equal(ck.state.step, 4);
    assert.equal(ck.state.examples, 24);
    assert.deepEqual(ck.state.config.model.channelMult, [1, 2]);
    assert.ok(existsSync(path.join(dir, 'latest')));
    // EMA at 0.9 is closer to the weights than EMA at 0.99 after a few steps, and both differ from them.
    const k = 'out.2.weight';
    const d = (r: number): number => ck.ema.get(r)![k]!.sub(ck.model[k]!).abs().sum().item();
    assert.ok(d(0.9) > 0 && d(0.9) < d(0.99));
    assert.ok(ck.trainTensors['rng.default'] !== undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
