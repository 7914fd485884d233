// The trainer holds a constant set of tensors from step to step, checkpoints included, and frees
// them all when train() returns (the fast half of scripts/soak.mjs, which found both leaks).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import * as torch from '@diffuse/torch';

import { BatchLoader } from '../src/data/loader.js';
import { U8ArrayDataset } from '../src/data/array-dataset.js';
import { resolveConfig } from '../src/train/config.js';
import { train } from '../src/train/trainer.js';

test('live tensors stay constant across steps and checkpoints, and return to the start after train()', async () => {
  const cfg = resolveConfig(undefined, {
    model: { imageSize: 8, channels: 1, modelChannels: 8, numResBlocks: 1, channelMult: [1, 1], attentionDs: [2], numHeads: 2, dropout: 0.1 },
    diffusion: { diffusionSteps: 50 },
    optim: { batchSize: 4, emaRates: [0.9, 0.99] },
    // A checkpoint every step: a leak per save shows at once.
    run: { steps: 5, logInterval: 0, saveInterval: 1, keepCheckpoints: 1, seed: 3 },
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'diffuse-train-memory-'));
  const images = Uint8Array.from({ length: 16 * 64 }, (_, i) => (i * 37) % 256); // 16 images 8x8
  const loader = new BatchLoader(new U8ArrayDataset({ images, n: 16, height: 8, width: 8, channels: 1 }), { batchSize: 4, seed: 3 });
  const start = torch.memory();
  const live: number[] = [];
  try {
    // onStep comes after the optimizer step (its state exists from step 1) and before the save.
    await train({ config: cfg, checkpointRoot: dir, data: loader, events: { onStep: () => void live.push(torch.memory().tensors) } });
  } finally {
    await loader.close();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(live.length, 5);
  assert.deepEqual(live, live.map(() => live[0]), `live tensors per step: ${live.join(', ')}`);
  const end = torch.memory();
  assert.deepEqual({ tensors: end.tensors, bytes: end.bytes }, { tensors: start.tensors, bytes: start.bytes });
});
