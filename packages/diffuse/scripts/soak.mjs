#!/usr/bin/env node
// Soak: a long run through the paths users run, watching for slow leaks. Trains a tiny UNet for
// 10,000 steps with the library's Trainer (BatchLoader over the bundled digits, AdamW, EMA,
// checkpoints), loads the last checkpoint as `diffuse sample` does, and samples 10,000 images with
// generateImages (DDIM). Every few steps it records RSS and torch.memory(); it fails (exit 1)
// when RSS grows (last-quarter median more than 5 % and 30 MB over the first quarter's, after
// warm-up), the live tensor count or bytes change within a phase, or tensors outlive the run.
//
//   node packages/diffuse/scripts/soak.mjs [--steps 10000] [--images 10000] [--size 16] [--threads 1] [--json out.json]
//
// One libtorch thread by default: the tensors are tiny, and on a shared 2-core machine two
// OpenMP threads that must meet at every op's barrier ran ~15x slower (measured: 3 vs 50 img/s).
//
// Needs `npx tsc -b` first (it imports the compiled library).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import * as torch from '@diffuse/torch';

import { BatchLoader, generateImages, loadPipeline, mnistDataset, resolveConfig, train } from '../dist/src/index.js';

const { values: flags } = parseArgs({
  options: {
    steps: { type: 'string', default: '10000' },
    images: { type: 'string', default: '10000' },
    size: { type: 'string', default: '16' },
    threads: { type: 'string', default: '1' },
    json: { type: 'string' },
  },
});
const STEPS = Number(flags.steps);
const IMAGES = Number(flags.images);
const SIZE = Number(flags.size);
torch.setNumThreads(Number(flags.threads));
/** Memory samples per phase; the first WARMUP of them are allocator and JIT warm-up. */
const SAMPLES = 100;
const WARMUP = 0.1;
/** RSS may grow by this fraction or this many MB (whichever is larger) from first to last quarter. */
const RSS_FRACTION = 0.05;
const RSS_SLACK_MB = 30;
/** Images per generateImages call (a `diffuse sample` run) and per sampler batch. */
const CHUNK = 500;
const BATCH = 50;

const MB = 2 ** 20;

/** One memory reading. */
function reading(at) {
  const m = torch.memory();
  return { at, rssMB: process.memoryUsage().rss / MB, tensors: m.tensors, bytes: m.bytes };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/**
 * Checks one phase's readings: flat RSS and constant live tensors/bytes after warm-up.
 * @returns the summary row and the failures (empty when it passed).
 */
function judge(name, units, readings) {
  const steady = readings.slice(Math.floor(readings.length * WARMUP));
  const q = Math.max(1, Math.floor(steady.length / 4));
  const first = median(steady.slice(0, q).map((r) => r.rssMB));
  const last = median(steady.slice(-q).map((r) => r.rssMB));
  const failures = [];
  const allowed = Math.max(first * RSS_FRACTION, RSS_SLACK_MB);
  if (last - first > allowed) failures.push(`${name}: RSS grew ${(last - first).toFixed(1)} MB (first-quarter median ${first.toFixed(1)} MB, last ${last.toFixed(1)} MB; allowed ${allowed.toFixed(1)} MB)`);
  const tensors = new Set(steady.map((r) => r.tensors));
  const bytes = new Set(steady.map((r) => r.bytes));
  if (tensors.size > 1) failures.push(`${name}: live tensors changed: ${[...tensors].join(', ')}`);
  if (bytes.size > 1) failures.push(`${name}: live tensor bytes changed: ${[...bytes].join(', ')}`);
  return {
    row: {
      phase: name,
      [units]: readings.at(-1).at,
      'RSS first MB': first.toFixed(1),
      'RSS last MB': last.toFixed(1),
      'RSS max MB': Math.max(...steady.map((r) => r.rssMB)).toFixed(1),
      'live tensors': [...tensors].join('/'),
      'live MB': [...bytes].map((b) => (b / MB).toFixed(2)).join('/'),
    },
    failures,
  };
}

async function soakTraining(cfg, outDir) {
  const readings = [];
  const every = Math.max(1, Math.floor(STEPS / SAMPLES));
  const data = new BatchLoader(mnistDataset({ size: SIZE }), { batchSize: cfg.optim.batchSize, seed: cfg.run.seed });
  const t0 = performance.now();
  const result = await train({
    config: cfg,
    checkpointRoot: path.join(outDir, 'checkpoints'),
    data,
    events: {
      // onStep runs after the optimizer step, with the batch disposed: a steady state.
      onStep(step) {
        if (step % every === 0) readings.push(reading(step));
      },
      onLog(row) {
        process.stderr.write(`  step ${row.step}  loss ${row.loss?.toFixed(4)}  ${row.imgPerSec.toFixed(0)} img/s  rss ${(process.memoryUsage().rss / MB).toFixed(0)} MB\n`);
      },
    },
  });
  await data.close();
  return { result, readings, seconds: (performance.now() - t0) / 1000 };
}

function soakSampling(checkpointDir) {
  const pipe = loadPipeline(checkpointDir);
  const readings = [];
  const t0 = performance.now();
  let done = 0;
  for (let chunk = 0; done < IMAGES; chunk++) {
    const n = Math.min(CHUNK, IMAGES - done);
    generateImages(pipe, {
      n,
      batchSize: BATCH,
      sampler: 'ddim',
      steps: 10,
      seed: chunk,
      // After each sampler step: memory mid-batch, as well as between batches.
      progress: (d) => {
        if (Number.isInteger(d) && d > 0) readings.push(reading(done + d));
      },
    });
    done += n;
  }
  torch.dispose(Object.fromEntries(pipe.model.stateDict()));
  return { readings, seconds: (performance.now() - t0) / 1000 };
}

async function main() {
  const cfg = resolveConfig(undefined, {
    // A tiny UNet that still has every part: res blocks, attention, down/upsampling, dropout,
    // learned variance (hybrid loss), EMA, warmup and gradient clipping.
    model: { imageSize: SIZE, channels: 1, modelChannels: 16, numResBlocks: 1, channelMult: [1, 1], attentionDs: [2], numHeads: 2, dropout: 0.1 },
    diffusion: { diffusionSteps: 1000, noiseSchedule: 'cosine', varType: 'learned_range', loss: 'rescaled_mse' },
    optim: { batchSize: 8, lr: 1e-3, warmupSteps: 100, emaRates: [0.999] },
    run: { steps: STEPS, logInterval: Math.max(1, Math.floor(STEPS / 10)), saveInterval: Math.max(1, Math.floor(STEPS / 4)), keepCheckpoints: 2 },
  });
  const outDir = mkdtempSync(path.join(tmpdir(), 'diffuse-soak-'));
  const t0 = performance.now();
  const start = torch.memory();
  try {
    process.stderr.write(`soak: training ${STEPS} steps (${SIZE}x${SIZE}, batch ${cfg.optim.batchSize}, ${torch.getNumThreads()} threads)\n`);
    const tr = await soakTraining(cfg, outDir);
    process.stderr.write(`soak: sampling ${IMAGES} images (DDIM 10 steps, batch ${BATCH})\n`);
    const sa = soakSampling(tr.result.checkpointDir);
    const training = judge('training', 'steps', tr.readings);
    const sampling = judge('sampling', 'images', sa.readings);
    training.row.seconds = tr.seconds.toFixed(0);
    sampling.row.seconds = sa.seconds.toFixed(0);
    console.table([training.row, sampling.row]);
    const failures = [...training.failures, ...sampling.failures];
    if (tr.result.step !== STEPS) failures.push(`training stopped at step ${tr.result.step} of ${STEPS}`);
    // With the trainer finished and the pipeline's weights disposed, nothing may be left alive.
    const end = torch.memory();
    if (end.tensors !== start.tensors || end.bytes !== start.bytes) {
      failures.push(`live tensors at the end ${end.tensors} (${end.bytes} bytes), at the start ${start.tensors} (${start.bytes} bytes)`);
    }
    const wall = (performance.now() - t0) / 1000;
    if (flags.json) {
      writeFileSync(flags.json, JSON.stringify({ steps: STEPS, images: IMAGES, size: SIZE, wallSeconds: wall, start, end, training: training.row, sampling: sampling.row, failures }, null, 2) + '\n');
    }
    for (const f of failures) console.log(`FAIL ${f}`);
    console.log(`soak: ${STEPS} steps and ${IMAGES} images in ${wall.toFixed(0)} s: ${failures.length === 0 ? 'passed' : 'FAILED'}`);
    process.exitCode = failures.length === 0 ? 0 : 1;
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

await main();
