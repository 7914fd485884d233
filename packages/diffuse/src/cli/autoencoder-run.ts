// `diffuse autoencoder train` as a run folder: data, progress, log.jsonl, loss.png and
// report.html (the diffusion runs' reporter), input-vs-reconstruction previews, checkpoints,
// and SIGINT/SIGTERM stopping after a checkpoint.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { BatchLoader, type LoaderPosition } from '../data/loader.js';
import type { AnyImageDataset } from '../data/dataset.js';
import { isAsyncDataset } from '../data/dataset.js';
import { openDataset } from '../data/open.js';
import { makeGrid } from '../io/grid.js';
import { writePng } from '../io/png.js';
import type { Autoencoder } from '../models/autoencoder.js';
import { toUint8NHWC } from '../pipeline/generate.js';
import { RunReporter, writeHardware } from '../report/run-reporter.js';
import { discConfigOf, type AutoencoderTrainConfig } from '../train/autoencoder-config.js';
import { trainAutoencoder } from '../train/autoencoder-trainer.js';
import type { LoopConfig, LoopEvents } from '../train/simple-loop.js';
import { listCheckpoints, type CheckpointContents } from '../train/checkpoint.js';
import type { LogRow, TrainResult } from '../train/trainer.js';
import { UsageError } from './args.js';
import { clock, Progress } from './progress.js';
import { SIGNAL_EXIT } from './run-training.js';

/**
 * The first n images of a dataset as one tensor.
 * @returns x (n, C, H, W) in [−1, 1] and the labels (−1 when unlabelled).
 */
export async function firstImages(ds: AnyImageDataset, n: number): Promise<{ x: Tensor; labels: Int32Array }> {
  const count = Math.min(n, ds.length);
  const frame = ds.channels * ds.size * ds.size;
  const data = new Float32Array(count * frame);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const s = isAsyncDataset(ds) ? await ds.getAsync(i) : ds.get(i);
    data.set(s.image, i * frame);
    labels[i] = s.label;
  }
  return { x: torch.tensor(data, { shape: [count, ds.channels, ds.size, ds.size] }), labels };
}

/**
 * Inputs above their reconstructions, `cols` per row, as one PNG.
 * @param ae the autoencoder (eval mode). @param x (n, C, H, W) in [−1, 1].
 */
export async function writeReconstructionGrid(file: string, ae: Autoencoder, x: Tensor, cols = 8): Promise<void> {
  const n = Math.min(cols, x.size(0));
  const both = torch.noGrad(() => torch.tidy(() => {
    const input = x.narrow(0, 0, n); // (n, C, H, W)
    return torch.cat([input, ae.decode(ae.encode(input)).clamp(-1, 1)], 0).keep(); // (2n, C, H, W)
  }));
  const [, C, H, W] = both.shape as [number, number, number, number];
  const grid = makeGrid({ data: toUint8NHWC(both), n: 2 * n, height: H, width: W, channels: C }, { nrow: n });
  both.dispose();
  await writePng(file, grid);
}

export function fmt(v: number | undefined): string {
  if (v === undefined) return '-';
  const a = Math.abs(v);
  return a !== 0 && (a >= 1000 || a < 1e-3) ? v.toExponential(3) : v.toPrecision(4);
}

/** What a run folder hands the training function: its events and its stop flag. */
export interface FolderRunContext<M> {
  events: LoopEvents<M>;
  shouldStop: () => boolean;
}

/**
 * A training run in a folder (checkpoints/, log.jsonl, loss.png, report.html, previews/), for the
 * models trained by train/simple-loop.ts: progress, log lines, SIGINT/SIGTERM stopping after a
 * checkpoint.
 * @param o.onPreview writes OUT/previews/step-N.png for a step.
 * @returns the result, the signal that stopped it and the exit code.
 */
export async function runFolderTraining<M>(o: {
  out: string;
  label: string;
  config: LoopConfig;
  describe(row: LogRow): string;
  onPreview?(file: string, model: M): Promise<void>;
  train(ctx: FolderRunContext<M>): Promise<TrainResult>;
}): Promise<TrainResult & { signal: string | null; exitCode: number }> {
  const { out, config: cfg } = o;
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  writeHardware(out, { threads: torch.getNumThreads(), device: 'cpu', precision: 'fp32' });
  const logFile = path.join(out, 'log.jsonl');
  const reporter = new RunReporter(out, () => undefined);
  const progress = new Progress(o.label);
  let signal: string | null = null;
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((s) => {
    const h = (): void => {
      if (signal !== null) return;
      signal = s;
      progress.clear();
      console.error(`diffuse: ${s} received — saving a checkpoint, then stopping`);
    };
    process.on(s, h);
    return [s, h] as const;
  });
  const budget = cfg.run.minutes > 0 ? cfg.run.minutes * 60 : Infinity;
  const started = Date.now();
  let imgPerSec = 0;
  let result: TrainResult;
  try {
    result = await o.train({
      shouldStop: () => signal !== null,
      events: {
        onStep(step, info) {
          progress.update(Math.max(step / cfg.run.steps, info.elapsed / budget), (Date.now() - started) / 1000, `step ${step}/${cfg.run.steps} loss ${fmt(info.loss)} ${imgPerSec.toFixed(1)} img/s`);
        },
        onLog(row: LogRow) {
          imgPerSec = row.imgPerSec;
          appendFileSync(logFile, JSON.stringify(row) + '\n');
          if (!progress.enabled) console.log(`step ${row.step} loss ${fmt(row.loss)} ${o.describe(row)} ${row.imgPerSec.toFixed(1)} img/s ${clock(row.elapsed)}`);
          reporter.poke();
        },
        onCheckpoint(dir) {
          if (!progress.enabled) console.log(`checkpoint ${dir}`);
        },
        onPreview: o.onPreview === undefined ? undefined : async (step, model) => {
          mkdirSync(path.join(out, 'previews'), { recursive: true });
          await o.onPreview!(path.join(out, 'previews', `step-${String(step).padStart(7, '0')}.png`), model);
        },
      },
    });
  } finally {
    progress.clear();
    for (const [s, h] of handlers) process.off(s, h);
  }
  await reporter.finish();
  return { ...result, signal, exitCode: signal !== null ? SIGNAL_EXIT[signal]! : 0 };
}

/**
 * Trains an autoencoder into `out` (checkpoints/, log.jsonl, loss.png, report.html, previews/).
 * @returns the result and the signal that stopped it, if any (for the exit code).
 */
export async function runAutoencoderTraining(cfg: AutoencoderTrainConfig, out: string, resume?: CheckpointContents): Promise<TrainResult & { signal: string | null; exitCode: number }> {
  const root = path.join(out, 'checkpoints');
  if (resume === undefined && listCheckpoints(root).length > 0) throw new UsageError(`${out} already holds a training run; pass --resume to continue it, or choose another --out`);
  const a = cfg.autoencoder;
  const dataset = openDataset(cfg.run.data, { size: a.imageSize, channels: a.inChannels, limit: cfg.run.limit > 0 ? cfg.run.limit : undefined });
  if (dataset.length < cfg.optim.batchSize) throw new UsageError(`${cfg.run.data}: ${dataset.length} images, fewer than one batch of ${cfg.optim.batchSize}; lower --batch-size`);
  const { x: scaleImages } = await firstImages(dataset, cfg.run.scaleSamples);
  const loader = new BatchLoader(dataset, { batchSize: cfg.optim.batchSize, seed: cfg.run.seed, randomFlip: false, position: resume?.state.data as LoaderPosition | undefined });
  console.log(
    `training a ${a.kind.toUpperCase()} autoencoder ${a.imageSize}×${a.imageSize}×${a.inChannels} → ${a.zChannels}×${a.imageSize / 2 ** (a.channelMult.length - 1)}² on ${cfg.run.data} ` +
      `(${dataset.length} images) for ${cfg.run.steps} steps${cfg.run.minutes > 0 ? ` or ${cfg.run.minutes} min` : ''}, batch ${cfg.optim.batchSize}, ${torch.getNumThreads()} threads → ${out}`,
  );
  const d = discConfigOf(cfg);
  if (d.weight > 0) console.log(`with a ${d.layers}-layer patch discriminator (${d.loss} loss, weight ${d.weight} × adaptive weight) from step ${d.start}`);
  try {
    return await runFolderTraining<Autoencoder>({
      out, label: 'autoencoder', config: cfg,
      describe: (row) => `rec ${fmt(row.rec)}${row.kl !== undefined ? ` kl ${fmt(row.kl)}` : ` vq ${fmt(row.vq)} perplexity ${fmt(row.perplexity)} codes ${fmt(row.codes_used)}`}` +
        (row.d_loss !== undefined ? ` d_loss ${fmt(row.d_loss)} g_loss ${fmt(row.g_loss)} λ ${fmt(row.d_weight)}` : ''),
      onPreview: (file, ae) => writeReconstructionGrid(file, ae, scaleImages),
      train: (ctx) => trainAutoencoder({ config: cfg, checkpointRoot: root, data: loader, scaleImages, resume, ...ctx }),
    });
  } finally {
    await loader.close();
    scaleImages.dispose();
  }
}
