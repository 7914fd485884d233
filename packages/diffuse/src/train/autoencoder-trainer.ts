// The training loop of a first-stage autoencoder: AdamW with warmup, gradient clipping, the
// loss of models/autoencoder.ts, logging, atomic checkpoints (train/checkpoint.ts, as diffusion
// runs) with the scale factor measured on the training set, and bit-exact resume.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { firstLine } from '../io/errors.js';
import { Autoencoder } from '../models/autoencoder.js';
import { measureScaleFactor } from '../models/autoencoder-kl.js';
import { encodeScaled } from '../pipeline/autoencoder.js';
import type { AutoencoderTrainConfig } from './autoencoder-config.js';
import { CHECKPOINT_FORMAT, CheckpointError, MISMATCHED, saveCheckpoint, type CheckpointContents, type TrainState } from './checkpoint.js';
import { RunningMeans } from './metrics.js';
import { learningRate, TrainingError, type BatchSource, type LogRow, type TrainResult } from './trainer.js';

export interface AutoencoderTrainEvents {
  onStep?(step: number, info: { elapsed: number; totalSteps: number; budgetSeconds: number; loss: number }): void;
  onLog?(row: LogRow): void;
  onCheckpoint?(dir: string, step: number): void;
  /** Every previewInterval steps, the model in eval mode. */
  onPreview?(step: number, model: Autoencoder): Promise<void> | void;
}

export interface AutoencoderTrainOptions {
  config: AutoencoderTrainConfig;
  checkpointRoot: string;
  data: BatchSource;
  /** Images (N, C, H, W) in [−1, 1] whose latents measure the scale factor at each save. */
  scaleImages: Tensor;
  resume?: CheckpointContents;
  events?: AutoencoderTrainEvents;
  shouldStop?: () => boolean;
}

/** An autoencoder checkpoint's state.json: a TrainState whose config is the autoencoder run's. */
export type AutoencoderState = Omit<TrainState, 'config'> & { config: AutoencoderTrainConfig };

const RNG_KEY = 'rng.default';

/**
 * The scale factor of an autoencoder: 1/std of the latents of `images` (posterior means, or
 * quantized codes), encoded in eval mode in batches.
 * @param ae the autoencoder. @param images (N, C, H, W) in [−1, 1].
 */
export function scaleFactorOf(ae: Autoencoder, images: Tensor): number {
  const wasTraining = ae.training;
  ae.eval();
  try {
    return torch.tidy(() => measureScaleFactor(encodeScaled(ae, images, 1))); // over (N, c, h, w)
  } finally {
    if (wasTraining) ae.train();
  }
}

/**
 * Trains an autoencoder; saves checkpoints under checkpointRoot.
 * @throws CheckpointError when the resume checkpoint does not fit its config.
 */
export async function trainAutoencoder(opts: AutoencoderTrainOptions): Promise<TrainResult> {
  const cfg = structuredClone(opts.config);
  const resume = opts.resume;
  if (resume === undefined) torch.manualSeed(cfg.run.seed);
  const ae = torch.tidy(() => new Autoencoder(cfg.autoencoder));
  // An EMA codebook is not a parameter the optimizer moves.
  const params = ae.parameters().filter((p) => p.requiresGrad);
  const optimizer = new torch.optim.AdamW(params, { lr: cfg.optim.lr, weightDecay: cfg.optim.weightDecay });
  const schedule = { ...cfg.optim, lrAnnealSteps: 0 } as Parameters<typeof learningRate>[0];
  let step = 0;
  let examples = 0;
  let priorSeconds = 0;
  if (resume !== undefined) {
    try {
      ae.loadStateDict(resume.model);
      const opt = resume.state.optimizer;
      if (opt !== undefined) optimizer.loadStateDict(torch.optim.unflattenStateDict(resume.trainTensors, opt as torch.optim.OptimizerStateMeta));
      const rng = resume.trainTensors[RNG_KEY];
      if (rng !== undefined) torch.defaultGenerator().setState(rng);
    } catch (e) {
      throw new CheckpointError(`${resume.dir}: cannot resume from this checkpoint (${firstLine(e)}); ${MISMATCHED}`);
    }
    step = resume.state.step;
    examples = resume.state.examples;
    priorSeconds = resume.state.seconds;
  }
  const t0 = performance.now();

  const save = (): string => {
    cfg.autoencoder.scaleFactor = scaleFactorOf(ae, opts.scaleImages);
    const optFlat = torch.optim.flattenStateDict(optimizer.stateDict());
    const rng = torch.defaultGenerator().getState();
    const state: AutoencoderState = {
      format: CHECKPOINT_FORMAT, step, config: structuredClone(cfg), examples, optimizer: optFlat.meta, data: opts.data.position(),
      emaRates: [], seconds: priorSeconds + (performance.now() - t0) / 1000, createdAt: new Date().toISOString(),
    };
    try {
      const dir = saveCheckpoint(
        opts.checkpointRoot,
        { state: state as unknown as TrainState, model: Object.fromEntries(ae.stateDict()), ema: new Map(), trainTensors: { ...optFlat.tensors, [RNG_KEY]: rng } },
        { keep: cfg.run.keepCheckpoints },
      );
      opts.events?.onCheckpoint?.(dir, step);
      return dir;
    } finally {
      torch.dispose(optFlat.tensors);
      rng.dispose();
    }
  };

  const budget = cfg.run.minutes > 0 ? cfg.run.minutes * 60 : Infinity;
  const means = new RunningMeans();
  let lastLog = performance.now();
  let lastLogExamples = examples;
  let loggedAt = step;
  let savedAt = -1;
  let checkpointDir: string | null = null;
  let reason: TrainResult['reason'] = 'steps';
  const emitLog = (lr: number, now: number): void => {
    const row: LogRow = { step, examples, lr, imgPerSec: ((examples - lastLogExamples) * 1000) / (now - lastLog), elapsed: priorSeconds + (now - t0) / 1000, ...means.flush() };
    lastLog = now;
    lastLogExamples = examples;
    loggedAt = step;
    opts.events?.onLog?.(row);
  };
  ae.train();
  while (step < cfg.run.steps) {
    await new Promise<void>((resolve) => setImmediate(resolve)); // let signal handlers run
    if (priorSeconds + (performance.now() - t0) / 1000 >= budget) {
      reason = 'minutes';
      break;
    }
    if (opts.shouldStop?.()) {
      reason = 'signal';
      break;
    }
    const batch = await opts.data.next();
    const lr = learningRate(schedule, step);
    const loss = torch.tidy(() => {
      ae.zeroGrad();
      const l = ae.lossOf(batch.x);
      l.loss.backward();
      means.add('loss', l.loss.item());
      means.add('rec', l.rec.item());
      if (l.kl !== undefined) means.add('kl', l.kl.item());
      if (l.vq !== undefined) means.add('vq', l.vq.item());
      if (l.perplexity !== undefined) means.add('perplexity', l.perplexity);
      if (l.used !== undefined) means.add('codes_used', l.used);
      return l.loss.item();
    });
    batch.x.dispose();
    batch.y.dispose();
    if (!Number.isFinite(loss)) throw new TrainingError(`the autoencoder loss became ${loss} at step ${step + 1}; the last checkpoint is intact. Lower --lr`);
    const gradNorm = torch.optim.clipGradNorm_(params, cfg.optim.gradClip > 0 ? cfg.optim.gradClip : Infinity);
    for (const g of optimizer.paramGroups) g.lr = lr;
    torch.tidy(() => optimizer.step());
    step++;
    examples += cfg.optim.batchSize;
    means.add('grad_norm', gradNorm);
    const now = performance.now();
    opts.events?.onStep?.(step, { elapsed: priorSeconds + (now - t0) / 1000, totalSteps: cfg.run.steps, budgetSeconds: budget, loss });
    if (cfg.run.logInterval > 0 && step % cfg.run.logInterval === 0) emitLog(lr, now);
    if (cfg.run.saveInterval > 0 && step % cfg.run.saveInterval === 0) {
      checkpointDir = save();
      savedAt = step;
    }
    if (cfg.run.previewInterval > 0 && step % cfg.run.previewInterval === 0 && opts.events?.onPreview) {
      ae.eval();
      try {
        await opts.events.onPreview(step, ae);
      } finally {
        ae.train();
      }
    }
  }
  if (cfg.run.logInterval > 0 && loggedAt !== step) emitLog(learningRate(schedule, Math.max(0, step - 1)), performance.now());
  if (savedAt !== step) checkpointDir = save();
  if (opts.events?.onPreview && cfg.run.previewInterval > 0 && reason !== 'signal') {
    ae.eval();
    await opts.events.onPreview(step, ae);
  }
  optimizer.dispose();
  ae.zeroGrad();
  torch.dispose(Object.fromEntries(ae.stateDict()));
  return { step, checkpointDir, reason, seconds: priorSeconds + (performance.now() - t0) / 1000, skipped: 0 };
}
