// The training loop of the models beside diffusion (autoencoders, the PixelCNN prior): AdamW
// with warmup, gradient clipping, logging, atomic checkpoints (train/checkpoint.ts, as diffusion
// runs) and bit-exact resume (weights, buffers, optimizer, RNG and data position).
import * as torch from '@diffuse/torch';
import type { nn, Tensor } from '@diffuse/torch';

import { firstLine } from '../io/errors.js';
import { CHECKPOINT_FORMAT, CheckpointError, MISMATCHED, saveCheckpoint, type CheckpointContents, type TrainState } from './checkpoint.js';
import { RunningMeans } from './metrics.js';
import { learningRate, TrainingError, type BatchSource, type LogRow, type TrainResult } from './trainer.js';

export interface LoopEvents<M> {
  onStep?(step: number, info: { elapsed: number; totalSteps: number; budgetSeconds: number; loss: number }): void;
  onLog?(row: LogRow): void;
  onCheckpoint?(dir: string, step: number): void;
  /** Every previewInterval steps and at the end, the model in eval mode. */
  onPreview?(step: number, model: M): Promise<void> | void;
}

/** The settings the loop reads (a subset of each run's config). */
export interface LoopConfig {
  optim: { lr: number; weightDecay: number; warmupSteps: number; batchSize: number; gradClip: number };
  run: { steps: number; minutes: number; logInterval: number; saveInterval: number; previewInterval: number; keepCheckpoints: number };
}

export interface LoopOptions<M extends nn.Module> {
  model: M;
  config: LoopConfig;
  /** One step's loss on a batch, and the numbers to log (averaged over the log interval). @param step the steps taken before it */
  lossOf(x: Tensor, y: Tensor, step: number): { loss: Tensor; logs: Record<string, number> };
  /** A second network trained beside the model (a discriminator): its step on the same batch, and its state. */
  companion?: LoopCompanion;
  /** The config stored in each checkpoint's state.json (called at each save). */
  stateConfig(): unknown;
  checkpointRoot: string;
  data: BatchSource;
  resume?: CheckpointContents;
  events?: LoopEvents<M>;
  shouldStop?: () => boolean;
}

/** A network trained beside the model, with its own optimizer, saved in train-state.safetensors. */
export interface LoopCompanion {
  /**
   * Its update on the batch, after the model's optimizer step; returns the numbers to log.
   * @param step the steps taken before this one. @param x the batch (B, C, H, W).
   */
  step(step: number, x: Tensor): Record<string, number>;
  /** Its weights and optimizer tensors (fresh handles: the loop disposes them after saving) and the JSON half. */
  state(): { tensors: Record<string, Tensor>; meta: unknown };
  /** Restores what state() returned. */
  load(tensors: Record<string, Tensor>, meta: unknown): void;
}

const RNG_KEY = 'rng.default';

/**
 * Trains `model` (its parameters that require grad) until the steps or minutes run out.
 * The caller seeds the default generator before building the model (fresh runs).
 * @throws CheckpointError when the resume checkpoint does not fit the model; TrainingError on a non-finite loss.
 */
export async function trainLoop<M extends nn.Module>(o: LoopOptions<M>): Promise<TrainResult> {
  const { model, config: cfg, resume } = o;
  // Buffers such as an EMA codebook are not for the optimizer.
  const params = model.parameters().filter((p) => p.requiresGrad);
  const optimizer = new torch.optim.AdamW(params, { lr: cfg.optim.lr, weightDecay: cfg.optim.weightDecay });
  const schedule = { ...cfg.optim, lrAnnealSteps: 0 } as Parameters<typeof learningRate>[0];
  let step = 0;
  let examples = 0;
  let priorSeconds = 0;
  if (resume !== undefined) {
    try {
      model.loadStateDict(resume.model);
      const opt = resume.state.optimizer;
      if (opt !== undefined) optimizer.loadStateDict(torch.optim.unflattenStateDict(resume.trainTensors, opt as torch.optim.OptimizerStateMeta));
      const rng = resume.trainTensors[RNG_KEY];
      if (rng !== undefined) torch.defaultGenerator().setState(rng);
      o.companion?.load(resume.trainTensors, (resume.state as { companion?: unknown }).companion);
    } catch (e) {
      throw new CheckpointError(`${resume.dir}: cannot resume from this checkpoint (${firstLine(e)}); ${MISMATCHED}`);
    }
    step = resume.state.step;
    examples = resume.state.examples;
    priorSeconds = resume.state.seconds;
  }
  const t0 = performance.now();

  const save = (): string => {
    const optFlat = torch.optim.flattenStateDict(optimizer.stateDict());
    const rng = torch.defaultGenerator().getState();
    const companion = o.companion?.state();
    const state = {
      format: CHECKPOINT_FORMAT, step, config: o.stateConfig(), examples, optimizer: optFlat.meta, data: o.data.position(),
      ...(companion === undefined ? {} : { companion: companion.meta }), emaRates: [], seconds: priorSeconds + (performance.now() - t0) / 1000, createdAt: new Date().toISOString(),
    };
    try {
      const dir = saveCheckpoint(
        o.checkpointRoot,
        { state: state as unknown as TrainState, model: Object.fromEntries(model.stateDict()), ema: new Map(), trainTensors: { ...optFlat.tensors, ...companion?.tensors, [RNG_KEY]: rng } },
        { keep: cfg.run.keepCheckpoints },
      );
      o.events?.onCheckpoint?.(dir, step);
      return dir;
    } finally {
      torch.dispose(optFlat.tensors);
      if (companion !== undefined) torch.dispose(companion.tensors);
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
    o.events?.onLog?.(row);
  };
  model.train();
  while (step < cfg.run.steps) {
    await new Promise<void>((resolve) => setImmediate(resolve)); // let signal handlers run
    if (priorSeconds + (performance.now() - t0) / 1000 >= budget) {
      reason = 'minutes';
      break;
    }
    if (o.shouldStop?.()) {
      reason = 'signal';
      break;
    }
    const batch = await o.data.next();
    const lr = learningRate(schedule, step);
    const loss = torch.tidy(() => {
      model.zeroGrad();
      const l = o.lossOf(batch.x, batch.y, step);
      l.loss.backward();
      const v = l.loss.item();
      means.add('loss', v);
      for (const [key, value] of Object.entries(l.logs)) means.add(key, value);
      return v;
    });
    if (!Number.isFinite(loss)) {
      batch.x.dispose();
      batch.y.dispose();
      throw new TrainingError(`the autoencoder loss became ${loss} at step ${step + 1}; the last checkpoint is intact. Lower --lr`);
    }
    const gradNorm = torch.optim.clipGradNorm_(params, cfg.optim.gradClip > 0 ? cfg.optim.gradClip : Infinity);
    for (const g of optimizer.paramGroups) g.lr = lr;
    torch.tidy(() => optimizer.step());
    if (o.companion !== undefined) for (const [key, value] of Object.entries(o.companion.step(step, batch.x))) means.add(key, value);
    batch.x.dispose();
    batch.y.dispose();
    step++;
    examples += cfg.optim.batchSize;
    means.add('grad_norm', gradNorm);
    const now = performance.now();
    o.events?.onStep?.(step, { elapsed: priorSeconds + (now - t0) / 1000, totalSteps: cfg.run.steps, budgetSeconds: budget, loss });
    if (cfg.run.logInterval > 0 && step % cfg.run.logInterval === 0) emitLog(lr, now);
    if (cfg.run.saveInterval > 0 && step % cfg.run.saveInterval === 0) {
      checkpointDir = save();
      savedAt = step;
    }
    if (cfg.run.previewInterval > 0 && step % cfg.run.previewInterval === 0 && o.events?.onPreview) {
      model.eval();
      try {
        await o.events.onPreview(step, model);
      } finally {
        model.train();
      }
    }
  }
  if (cfg.run.logInterval > 0 && loggedAt !== step) emitLog(learningRate(schedule, Math.max(0, step - 1)), performance.now());
  if (savedAt !== step) checkpointDir = save();
  if (o.events?.onPreview && cfg.run.previewInterval > 0 && reason !== 'signal') {
    model.eval();
    await o.events.onPreview(step, model);
  }
  optimizer.dispose();
  model.zeroGrad();
  torch.dispose(Object.fromEntries(model.stateDict()));
  return { step, checkpointDir, reason, seconds: priorSeconds + (performance.now() - t0) / 1000, skipped: 0 };
}
