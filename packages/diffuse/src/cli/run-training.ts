// A training run as the CLI does it: output folder, data, logs (terminal, JSONL, the loss plot
// and the report.html dashboard), preview grids, checkpoints, and SIGINT/SIGTERM handling.
// Shared by `train` and `demo`.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import * as torch from '@diffuse/torch';

import { BatchLoader, type LoaderPosition } from '../data/loader.js';
import { ImageFolderDataset } from '../data/image-folder.js';
import { openDataset } from '../data/open.js';
import { writeFileAtomicSync } from '../io/atomic.js';
import { DataError, isDiskFull } from '../io/errors.js';
import { makeGrid } from '../io/grid.js';
import { writePng } from '../io/png.js';
import { evaluateImageSets, type Evaluation } from '../eval/evaluate.js';
import type { FeatureExtractor } from '../eval/features/extractor.js';
import { loadExtractor } from '../eval/features/registry.js';
import { writeNpz } from '../io/npz.js';
import { computeDtypeFor } from '../models/precision.js';
import type { Backbone } from '../train/factory.js';
import { RunReporter, writeHardware } from '../report/run-reporter.js';
import { generateImages, type SamplerChoice } from '../pipeline/generate.js';
import { checkpointPhase } from '../distill/schedule.js';
import { pipelineFromModel } from '../pipeline/load.js';
import { listCheckpoints, type CheckpointContents } from '../train/checkpoint.js';
import { bucketSizes, type TrainConfig } from '../train/config.js';
import { assignBuckets, formatBuckets, type BucketPlan } from '../data/buckets.js';
import { train, type BatchSource, type LogRow, type TrainOptions, type TrainResult } from '../train/trainer.js';
import type { AnyImageDataset } from '../data/dataset.js';
import { encodeDataset, encodingSource } from '../pipeline/latent.js';
import { UsageError } from './args.js';
import { clock, Progress } from './progress.js';

export interface RunTrainingOptions {
  config: TrainConfig;
  out: string;
  resume?: CheckpointContents;
  /** Label for the progress bar. */
  label?: string;
  device?: torch.Device;
  /** Adapts the model before training (a fine-tune's base weights and adapters; see train()). */
  prepareModel?: TrainOptions['prepareModel'];
  /** The model as the loss calls it, and extra inputs per batch (a ControlNet run; see train()). */
  modelFn?: TrainOptions['modelFn'];
  batchKwargs?: TrainOptions['batchKwargs'];
  /** This process is one rank of a data-parallel run (cli/distributed.ts); rank 0 writes the output. */
  distributed?: TrainOptions['distributed'];
  /** A loss of its own and a hook before each step (distillation; see train()). */
  lossFn?: TrainOptions['lossFn'];
  beforeStep?: TrainOptions['beforeStep'];
  learningRate?: TrainOptions['learningRate'];
}

/**
 * Latent runs (config.autoencoder): the images' dataset becomes their scaled latents, encoded once
 * and cached in OUT/latents-<hash>.npz, or a source that encodes each batch (--encode-on-the-fly).
 */
async function latentData(cfg: TrainConfig, images: AnyImageDataset, out: string, cache = true): Promise<{ dataset: AnyImageDataset; wrap: (src: BatchSource) => BatchSource }> {
  const ae = cfg.autoencoder!;
  if (ae.encodeOnTheFly) return { dataset: images, wrap: (src) => encodingSource(ae, src) };
  const file = cache ? path.join(out, `latents-${ae.hash}.npz`) : undefined;
  if (file !== undefined && !existsSync(file)) console.log(`encoding ${images.length} images to latents with the frozen autoencoder ${ae.path} (once: cached in ${file})`);
  return { dataset: await encodeDataset(ae, images, file), wrap: (src) => src };
}

/** Said by the launcher (before any worker starts) and by a worker of a resumed bucket run. */
export const BUCKETS_NOT_DATA_PARALLEL = '--buckets does not run data-parallel yet (each rank would need the same bucket per step); drop --nproc-per-node or --buckets';

/**
 * A `--buckets` run's assignment of the folder's images to buckets (undefined without buckets).
 * @throws UsageError when the data is not an image folder or the run is data-parallel.
 */
async function planBuckets(cfg: TrainConfig, dataset: AnyImageDataset, worldSize: number): Promise<BucketPlan | undefined> {
  const sizes = bucketSizes(cfg);
  if (sizes === undefined) return undefined;
  if (!(dataset instanceof ImageFolderDataset)) throw new UsageError(`--buckets needs a folder of images of mixed sizes; ${cfg.run.data} has one size: drop --buckets`);
  if (worldSize > 1) throw new UsageError(BUCKETS_NOT_DATA_PARALLEL);
  return assignBuckets(await dataset.imageDims(), sizes);
}

/** Exit codes after a signal, as shells report them (128 + signal number). */
export const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

export interface RunTrainingResult extends TrainResult {
  signal: string | null;
  out: string;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1000 || a < 1e-3 ? v.toExponential(3) : v.toPrecision(4);
}

/**
 * Trains into `out` (checkpoints/, log.jsonl, loss.png, report.html, previews/, config.json,
 * hardware.json).
 * @throws UsageError when `out` already holds a run and no resume was asked for.
 */
export async function runTraining(o: RunTrainingOptions): Promise<RunTrainingResult> {
  const cfg = o.config;
  const ckptRoot = path.join(o.out, 'checkpoints');
  if (o.resume === undefined && listCheckpoints(ckptRoot).length > 0) {
    throw new UsageError(`${o.out} already holds a training run; pass --resume to continue it, or choose another --out`);
  }
  computeDtypeFor(cfg.run.precision, o.device); // a precision this CPU cannot run fails here, before anything is written
  // The data is opened (and checked) before anything is written.
  const pixels = cfg.autoencoder ?? cfg.model; // a latent run reads images of the autoencoder's size
  let dataset = openDataset(cfg.run.data, { size: pixels.imageSize, channels: pixels.channels, frames: cfg.model.frames, clipDigits: cfg.run.clipDigits });
  checkClipData(cfg, dataset);
  if (cfg.run.evalInterval > 0 && cfg.model.frames !== undefined) throw new UsageError('--eval-interval: FID/KID score images, and this is a clip model; drop --eval-interval (look at the preview strips, --preview-interval)');
  if (cfg.run.classCond) {
    if (dataset.numClasses === 0) throw new UsageError(`${cfg.run.data}: --class-cond needs labelled data (class from the file-name prefix before '_', or an npz with arr_1)`);
    if (cfg.model.numClasses === 0) cfg.model.numClasses = dataset.numClasses;
    if (cfg.model.numClasses < dataset.numClasses) throw new UsageError(`the data has ${dataset.numClasses} classes but --num-classes is ${cfg.model.numClasses}`);
  }
  const buckets = await planBuckets(cfg, dataset, o.distributed?.worldSize ?? 1);
  const created = !existsSync(o.out);
  // Data-parallel: rank 0 writes the output folder; the other ranks only train.
  const lead = o.distributed === undefined || o.distributed.rank === 0;
  const worldSize = o.distributed?.worldSize ?? 1;
  if (lead) mkdirSync(o.out, { recursive: true });
  // Every rank encodes the latents it trains on; rank 0 caches them in the output folder.
  const latent = cfg.autoencoder !== undefined ? await latentData(cfg, dataset, o.out, lead) : undefined;
  if (latent !== undefined) dataset = latent.dataset;
  if (lead) {
    writeFileSync(path.join(o.out, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
    writeHardware(o.out, { threads: torch.getNumThreads(), device: o.device ?? 'cpu', precision: computeDtypeFor(cfg.run.precision, o.device ?? 'cpu') });
  }
  let loader: BatchLoader | undefined;

  const logFile = path.join(o.out, 'log.jsonl');
  // A resumed run's log continues the earlier one from the checkpoint's step.
  if (lead && o.resume !== undefined && existsSync(logFile)) rewindLog(logFile, o.resume.state.step);
  const reporter = new RunReporter(o.out, (e) => {
    if (isDiskFull(e)) return; // the next checkpoint says so, in the one line a full disk gets
    progress.clear();
    console.error(`diffuse: warning: could not update ${path.join(o.out, 'report.html')} or loss.png (${(e as Error).message.split('\n')[0]}); training goes on`);
  }, reportInterval());
  const progress = new Progress(o.label ?? 'train');
  let signal: string | null = null;
  const onSignal = (s: string): void => {
    if (signal !== null) return;
    signal = s;
    progress.clear();
    if (lead) console.error(`diffuse: ${s} received — saving a checkpoint, then stopping (again to wait; the checkpoint is atomic)`);
  };
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((s) => {
    const h = (): void => onSignal(s);
    process.on(s, h);
    return [s, h] as const;
  });
  // The feature network is loaded up front, so a missing one fails before any training.
  const extractor = cfg.run.evalInterval > 0 ? loadExtractor(pixels.channels === 1 && pixels.imageSize === 28 ? 'digits' : 'inception') : undefined;
  let lastEval: Evaluation | undefined;
  const stepsGoal = cfg.run.steps;
  const skipped = dataset instanceof ImageFolderDataset ? dataset.skipped : 0;
  const budget = cfg.run.minutes > 0 ? cfg.run.minutes * 60 : Infinity;
  const started = Date.now();
  let lastImgPerSec = 0;

  if (lead) console.log(
    `training ${cfg.model.frames !== undefined ? `${cfg.model.frames}-frame clips of ` : ''}${cfg.model.imageSize}×${cfg.model.imageSize}×${cfg.model.channels} on ${cfg.run.data} (${dataset.length} ${cfg.model.frames !== undefined ? 'clips' : 'images'}${skipped > 0 ? `; ${skipped} non-image files skipped` : ''})` +
      ` for ${stepsGoal} steps${Number.isFinite(budget) ? ` or ${cfg.run.minutes} min` : ''}, batch ${cfg.optim.batchSize}, ${torch.getNumThreads()} threads → ${o.out}`,
  );
  if (lead && buckets !== undefined) {
    const counts = buckets.sizes.map((_, k) => buckets.assignment.filter((b) => b === k).length);
    console.log(`buckets (height×width: images): ${buckets.sizes.map((s, k) => `${formatBuckets([s])}: ${counts[k]}`).join(', ')}; previews sample at ${cfg.model.imageSize}x${cfg.model.imageSize}`);
  }
  if (lead && worldSize > 1) {
    console.log(
      `data-parallel: ${worldSize} workers × batch ${cfg.optim.batchSize / worldSize} = global batch ${cfg.optim.batchSize}, lr ${cfg.optim.lr} ` +
        `(gradients averaged over the workers: the same step as one process with batch ${cfg.optim.batchSize})`,
    );
  }
  let result: TrainResult;
  try {
    loader = new BatchLoader(dataset, {
      batchSize: cfg.optim.batchSize,
      seed: cfg.run.seed,
      randomFlip: cfg.run.randomFlip,
      position: o.resume?.state.data as LoaderPosition | undefined,
      device: o.device,
      shard: o.distributed,
      buckets,
    });
    result = await train({
      config: cfg,
      checkpointRoot: ckptRoot,
      data: latent?.wrap(loader) ?? loader,
      resume: o.resume,
      device: o.device,
      prepareModel: o.prepareModel,
      modelFn: o.modelFn,
      batchKwargs: o.batchKwargs,
      distributed: o.distributed,
      lossFn: o.lossFn,
      beforeStep: o.beforeStep,
      learningRate: o.learningRate,
      shouldStop: () => signal !== null,
      events: {
        onStep(step, info) {
          const f = Math.max(step / stepsGoal, info.elapsed / budget);
          progress.update(f, (Date.now() - started) / 1000, `step ${step}/${stepsGoal} loss ${fmt(info.loss)} ${lastImgPerSec.toFixed(1)} img/s`);
        },
        onLog(row: LogRow) {
          lastImgPerSec = row.imgPerSec;
          appendFileSync(logFile, JSON.stringify(row) + '\n');
          if (!progress.enabled) {
            const q = ['loss_q0', 'loss_q1', 'loss_q2', 'loss_q3'].map((k) => (row[k] === undefined ? '-' : fmt(row[k]!))).join(' ');
            console.log(
              `step ${row.step} loss ${fmt(row.loss ?? NaN)}${row.mse !== undefined ? ` mse ${fmt(row.mse)}` : ''}${row.vb !== undefined ? ` vb ${fmt(row.vb)}` : ''}` +
                ` q[${q}] grad ${fmt(row.grad_norm ?? NaN)} lr ${fmt(row.lr)} ${row.imgPerSec.toFixed(1)} img/s ${clock(row.elapsed)}`,
            );
          }
          reporter.poke();
        },
        onCheckpoint(dir) {
          if (!progress.enabled) console.log(`checkpoint ${dir}`);
          reporter.poke();
        },
        async onPreview(step, model) {
          const pipe = pipelineFromModel(cfg, model, true, o.device);
          // Clips: 4 of them, a row of frames each (their frames follow one another in the array).
          const frames = cfg.model.frames ?? 1;
          const n = frames > 1 ? 4 : 16;
          const imgs = generateImages(pipe, { n, batchSize: n, ...evalSampling(cfg, step), seed: 0 });
          mkdirSync(path.join(o.out, 'previews'), { recursive: true });
          await writePng(path.join(o.out, 'previews', `step-${String(step).padStart(7, '0')}.png`), makeGrid({ data: imgs.images, n: imgs.n * frames, height: imgs.size, width: imgs.size, channels: imgs.channels }, { nrow: frames > 1 ? frames : 4 }));
          reporter.poke();
        },
        async onEvaluate(step, model) {
          const r = await evaluateModel(cfg, model, o.device, extractor!, path.join(o.out, 'eval'), step);
          const row = { step, eval: true, fid: r.fid, kid: r.kid.mean, kidStd: r.kid.std, precision: r.precision, recall: r.recall, confident: r.confident?.a, confidentReal: r.confident?.b, samples: r.a.n };
          appendFileSync(logFile, JSON.stringify(row) + '\n');
          progress.clear();
          console.log(`eval step ${step}: FID ${r.fid.toFixed(2)} KID ${r.kid.mean.toFixed(3)} ± ${r.kid.std.toFixed(3)}${r.confident ? ` confident ${r.confident.a.toFixed(3)} (real ${r.confident.b.toFixed(3)})` : ''} (${r.a.n} EMA samples vs ${cfg.run.data}, ${r.features.name} features)`);
          lastEval = r;
          reporter.poke();
        },
        onSkip(step, skipped) {
          progress.clear();
          console.error(`diffuse: non-finite loss at step ${step}; skipped (${skipped} so far)`);
        },
        async onPeerStop() {
          // The launcher sends a signal to every worker, but another one may have handled its
          // copy first: wait a moment for ours, so the message (and the exit code) names it.
          for (let i = 0; i < 80 && signal === null; i++) await new Promise((r) => setTimeout(r, 25));
          if (signal === null) console.error('diffuse: another worker was stopped by a signal — saving a checkpoint, then stopping');
        },
      },
    });
  } catch (e) {
    throw badInputCleanup(e, cfg.run.data, created ? o.out : undefined);
  } finally {
    progress.clear();
    for (const [s, h] of handlers) process.off(s, h);
    await loader?.close();
  }
  if (lead) await reporter.finish();
  if (lastEval !== undefined) console.log(`final FID ${lastEval.fid.toFixed(2)} (KID ${lastEval.kid.mean.toFixed(3)}) of the EMA model at step ${result.step}`);
  return { ...result, signal, out: o.out };
}

/**
 * Clips go to clip models and images to image models: the data and the model must agree on frames
 * (a resumed run may name other --data). A latent run's data are images of the autoencoder.
 * @throws UsageError with one line saying which way round it is and what to do.
 */
function checkClipData(cfg: TrainConfig, dataset: AnyImageDataset): void {
  const [data, model] = [dataset.frames, cfg.model.frames];
  if (data === model) return;
  if (cfg.autoencoder !== undefined && model !== undefined) throw new UsageError('--autoencoder: latent clips are not built; train a clip model on pixels');
  if (model === undefined) throw new UsageError(`${cfg.run.data} gives clips of ${data} frames, and this is an image model; train a clip model (--model dit, --preset moving-digits)`);
  if (data === undefined) throw new UsageError(`${cfg.run.data} gives images, and this is a clip model (${model} frames); use --data moving-digits, or drop --frames`);
  throw new UsageError(`${cfg.run.data} gives clips of ${data} frames, and this model takes ${model}; pass --frames ${model}`);
}

/** DIFFUSE_REPORT_INTERVAL_MS: a fixed time between report refreshes (tests watch them change). */
function reportInterval(): number | undefined {
  const v = Number(process.env.DIFFUSE_REPORT_INTERVAL_MS);
  return process.env.DIFFUSE_REPORT_INTERVAL_MS !== undefined && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/**
 * Cuts a log back to a checkpoint's step before a resumed run appends to it: rows of later steps
 * (logged by a run killed after that checkpoint; the resumed run logs those steps again) and a
 * line the kill cut short are dropped, so the log holds each step once, as an uninterrupted run's.
 * @param logFile OUT/log.jsonl.
 * @param step the step of the checkpoint the run resumes from.
 */
function rewindLog(logFile: string, step: number): void {
  const kept: string[] = [];
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    let row: { step?: number; loss?: number; eval?: boolean };
    try {
      row = JSON.parse(line) as typeof row;
    } catch {
      continue; // a line cut by a kill (or the empty one after the last newline)
    }
    if (typeof row.step !== 'number' || row.step > step) continue;
    kept.push(line + '\n');
  }
  writeFileAtomicSync(logFile, kept.join(''));
}

/**
 * How previews and evaluations sample: DDIM-25, or a distilled student's DDIM on the grid of the
 * phase that step ends (distill/schedule.ts).
 */
function evalSampling(cfg: TrainConfig, step: number): SamplerChoice {
  if (cfg.distill === undefined) return { sampler: 'ddim', steps: 25 };
  const phase = checkpointPhase(cfg.distill.phases, step);
  return { sampler: 'ddim', steps: phase.steps, spacing: phase.timesteps };
}

/**
 * Draws cfg.run.evalSamples images from the model as it is (the trainer swaps in the EMA weights)
 * and scores them against the training data with a feature network.
 */
async function evaluateModel(cfg: TrainConfig, model: Backbone, device: torch.Device | undefined, extractor: FeatureExtractor, dir: string, step: number): Promise<Evaluation> {
  const imgs = generateImages(pipelineFromModel(cfg, model, true, device), { n: cfg.run.evalSamples, batchSize: 100, ...evalSampling(cfg, step), seed: 0 });
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'samples.npz');
  await writeNpz(file, { arr_0: { dtype: 'uint8', shape: [imgs.n, imgs.size, imgs.size, imgs.channels], data: imgs.images } });
  return evaluateImageSets(file, cfg.run.data, extractor, { onWarning: () => undefined });
}

/**
 * Bad input found once training began (a file that cannot be decoded, too few images for one
 * batch): the message gets the data path when it lacks one, and an output folder this run made
 * is removed when no checkpoint was saved into it, so nothing half-made is left behind.
 * @param e the error training stopped with.
 * @param data the --data argument.
 * @param madeOut the output folder, when this run created it.
 * @returns the error to throw.
 */
function badInputCleanup(e: unknown, data: string, madeOut: string | undefined): unknown {
  if (!(e instanceof DataError)) return e;
  if (madeOut !== undefined && listCheckpoints(path.join(madeOut, 'checkpoints')).length === 0) rmSync(madeOut, { recursive: true, force: true });
  return e.path === undefined ? new DataError(`${data}: ${e.message}`, data) : e;
}

/** Whether a path looks like an existing training output folder. */
export function hasRun(out: string): boolean {
  return existsSync(path.join(out, 'checkpoints'));
}
