// The training loop (improved-diffusion's TrainLoop): microbatches, importance-sampled
// timesteps, AdamW with warmup and linear annealing, gradient clipping, EMA at several rates,
// class dropout for classifier-free guidance, logging, atomic checkpoints and bit-exact resume.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import type { Batch } from '../data/loader.js';
import type { ModelFn, ModelKwargs } from '../diffusion/enums.js';
import { createNamedScheduleSampler, LossSecondMomentResampler, type ScheduleSampler } from '../diffusion/index.js';
import { DataError, firstLine } from '../io/errors.js';
import type { TrainConfig } from './config.js';
import { saveCheckpoint, CheckpointError, CHECKPOINT_FORMAT, MISMATCHED, type CheckpointContents, type TrainState } from './checkpoint.js';
import { EMA } from './ema.js';
import { computeDtypeFor } from '../models/precision.js';
import { asModelFn, createBackbone, createDiffusion } from './factory.js';
import { RunningMeans } from './metrics.js';
import { DataParallel, microbatchSeed, type DataParallelRank, type StepStats } from './data-parallel.js';

/** Where batches come from (a BatchLoader); its position is stored in checkpoints. */
export interface BatchSource {
  next(): Promise<Pick<Batch, 'x' | 'y'>>;
  position(): unknown;
}

/** One averaged log row (improved-diffusion's dumpkvs). */
export interface LogRow {
  step: number;
  examples: number;
  lr: number;
  imgPerSec: number;
  elapsed: number;
  [key: string]: number;
}

export interface TrainEvents {
  /** Every step: for progress bars. */
  onStep?(step: number, info: { elapsed: number; totalSteps: number; budgetSeconds: number; loss: number }): void;
  onLog?(row: LogRow): void;
  onCheckpoint?(dir: string, step: number): void;
  /** Every previewInterval steps with the model in eval mode and EMA weights loaded. */
  onPreview?(step: number, model: ReturnType<typeof createBackbone>): Promise<void> | void;
  /** Every evalInterval steps and after the last step, like onPreview (sample-quality metrics). */
  onEvaluate?(step: number, model: ReturnType<typeof createBackbone>): Promise<void> | void;
  /** A non-finite loss that was skipped (onNan: 'skip'). */
  onSkip?(step: number, skipped: number): void;
  /**
   * The ranks agreed to stop for a signal that this process's shouldStop has not seen yet (another
   * rank's came first); awaited before the final checkpoint.
   */
  onPeerStop?(): Promise<void> | void;
}

export interface TrainOptions {
  config: TrainConfig;
  /** OUT/checkpoints is written here. */
  checkpointRoot: string;
  data: BatchSource;
  resume?: CheckpointContents;
  events?: TrainEvents;
  /**
   * Where the model trains (default 'cpu'); batches must arrive there. On CUDA, dropout and noise
   * come from the CUDA generator, which checkpoints do not store: resumes are exact on the CPU only.
   */
  device?: torch.Device;
  /** Polled every step; true stops after the current step with a checkpoint (SIGINT/SIGTERM). */
  shouldStop?: () => boolean;
  /**
   * Adapts the freshly built model before anything else (fine-tuning: load a base, inject
   * adapters, freeze the rest). Only parameters that still require grad are then optimized,
   * averaged and saved in checkpoints; a resume calls it again and loads just those.
   */
  prepareModel?: (model: ReturnType<typeof createBackbone>) => void;
  /** The model as the loss calls it (default: the UNet); a ControlNet run joins the two models. */
  modelFn?: (model: ReturnType<typeof createBackbone>) => ModelFn;
  /** Extra model inputs from each microbatch's clean images (a ControlNet's control map). */
  batchKwargs?: (x0: Tensor) => ModelKwargs;
  /**
   * Data parallelism: this process is one rank of an initialised process group. `data` gives this
   * rank's rows of each global batch (config.optim.batchSize); gradients are averaged over the
   * ranks; only rank 0 saves checkpoints and gets events. See data-parallel.ts.
   */
  distributed?: DataParallelRank;
  /**
   * Replaces the diffusion loss (distillation): the per-example loss (b,) of a microbatch of
   * clean images, and the integer timesteps (b,) it drew (for the log's quartiles). The schedule
   * sampler is then not used; random draws must come from the default generator (resume is exact).
   */
  lossFn?: (modelFn: ModelFn, x0: Tensor, kwargs: ModelKwargs) => { loss: Tensor; timesteps: Tensor };
  /**
   * Called before each step (also the first one after a resume) with the trained parameters and
   * their EMA: distillation's phase boundaries change the weights here.
   */
  beforeStep?: (step: number, trained: { params: Tensor[]; ema: EMA }) => void;
  /** The learning rate of a step (default learningRate(config.optim, step)); distillation anneals each phase. */
  learningRate?: (step: number) => number;
}

export interface TrainResult {
  step: number;
  checkpointDir: string | null;
  reason: 'steps' | 'minutes' | 'signal';
  seconds: number;
  skipped: number;
}

/** A training failure that is not a bug: a non-finite loss, bad data. One line for the user. */
export class TrainingError extends Error {
  override name = 'TrainingError';
}

/**
 * The learning rate at a step: linear warmup from 0 over warmupSteps, then constant or
 * improved-diffusion's linear anneal to 0 at lrAnnealSteps (counted from the start).
 */
export function learningRate(cfg: TrainConfig['optim'], step: number): number {
  const after = cfg.lrAnnealSteps > 0 ? torch.optim.linearAnneal(Math.max(1, cfg.lrAnnealSteps - cfg.warmupSteps)) : torch.optim.constantSchedule();
  return cfg.lr * torch.optim.withWarmup(cfg.warmupSteps, after)(step);
}

const RNG_KEY = 'rng.default';
/** With onNan 'skip', this many non-finite steps in a row stop training anyway. */
const MAX_CONSECUTIVE_SKIPS = 20;

export async function train(opts: TrainOptions): Promise<TrainResult> {
  const cfg = opts.config;
  const resume = opts.resume;
  const lrAt = opts.learningRate ?? ((s: number) => learningRate(cfg.optim, s));
  if (resume === undefined) torch.manualSeed(cfg.run.seed);

  const device = opts.device ?? 'cpu';
  const model = torch.tidy(() => createBackbone(cfg));
  opts.prepareModel?.(model);
  if (device !== 'cpu') model.to(device);
  torch.nn.setComputeDtype(model, computeDtypeFor(cfg.run.precision, device));
  const diffusion = createDiffusion(cfg.diffusion);
  const modelFn = opts.modelFn?.(model) ?? asModelFn(model);
  const sampler: ScheduleSampler = createNamedScheduleSampler(cfg.optim.scheduleSampler, diffusion);
  // The trained parameters: all of them, or the subset prepareModel left requiring grad.
  const trained = model.namedParameters().filter(([, p]) => p.requiresGrad);
  const partial = trained.length < model.namedParameters().length;
  const params = trained.map(([, p]) => p);
  const optimizer = new torch.optim.AdamW(params, { lr: cfg.optim.lr, weightDecay: cfg.optim.weightDecay });
  let step = 0;
  let examples = 0;
  let priorSeconds = 0;

  const ema = new EMA(params, cfg.optim.emaRates, cfg.optim.emaWarmup);
  if (resume !== undefined) {
    // A checkpoint that does not fit its own config is the user's file problem, not a crash.
    try {
      if (partial) loadTrained(trained, resume.model);
      else model.loadStateDict(resume.model);
      const opt = resume.state.optimizer;
      if (opt !== undefined) optimizer.loadStateDict(torch.optim.unflattenStateDict(resume.trainTensors, opt as torch.optim.OptimizerStateMeta));
      if (resume.state.scheduleSampler !== undefined && 'loadStateDict' in sampler) {
        (sampler as LossSecondMomentResampler).loadStateDict(resume.state.scheduleSampler as never);
      }
      for (const [rate, sd] of resume.ema) {
        const byName = trained.map(([n]) => {
          const t = sd[n];
          if (t === undefined) throw new Error(`ema-${rate}.safetensors lacks ${n}`);
          return t;
        });
        torch.noGrad(() => ema.shadows.get(rate)!.forEach((s, i) => s.copy_(byName[i]!)));
      }
      const rng = resume.trainTensors[RNG_KEY];
      if (rng !== undefined) torch.defaultGenerator().setState(rng);
    } catch (e) {
      ema.dispose();
      throw new CheckpointError(`${resume.dir}: cannot resume from this checkpoint (${firstLine(e)}); ${MISMATCHED}`);
    }
    step = resume.state.step;
    examples = resume.state.examples;
    priorSeconds = resume.state.seconds;
  }

  // After the resume: the wrapper broadcasts rank 0's weights (equal to the others' by then).
  const dp = opts.distributed !== undefined ? new DataParallel(opts.distributed, model) : undefined;
  const events = dp === undefined || dp.rank === 0 ? opts.events : undefined;

  const save = (): string | null => {
    const names = trained.map(([n]) => n);
    const emaDicts = new Map<number, Record<string, Tensor>>();
    for (const [rate, shadow] of ema.shadows) emaDicts.set(rate, Object.fromEntries(names.map((n, i) => [n, shadow[i]!])));
    const optFlat = torch.optim.flattenStateDict(optimizer.stateDict());
    const rng = torch.defaultGenerator().getState();
    const state: TrainState = {
      format: CHECKPOINT_FORMAT,
      step,
      config: cfg,
      examples,
      optimizer: optFlat.meta,
      scheduleSampler: 'stateDict' in sampler ? (sampler as LossSecondMomentResampler).stateDict() : undefined,
      data: opts.data.position(),
      emaRates: cfg.optim.emaRates,
      seconds: priorSeconds + (performance.now() - t0) / 1000,
      createdAt: new Date().toISOString(),
    };
    // Every rank holds the same state; one writes it.
    if (dp !== undefined && dp.rank !== 0) {
      torch.dispose(optFlat.tensors);
      rng.dispose();
      return null;
    }
    let dir: string;
    try {
      dir = saveCheckpoint(
        opts.checkpointRoot,
        { state, model: partial ? Object.fromEntries(trained) : Object.fromEntries(model.stateDict()), ema: emaDicts, trainTensors: { ...optFlat.tensors, [RNG_KEY]: rng } },
        { keep: cfg.run.keepCheckpoints },
      );
    } finally {
      // The optimizer's state dict holds fresh (detached) handles: left to the GC they kept two
      // tensors per parameter alive after every save (found by scripts/soak.mjs).
      torch.dispose(optFlat.tensors);
      rng.dispose();
    }
    events?.onCheckpoint?.(dir, step);
    return dir;
  };

  const t0 = performance.now();
  const budget = cfg.run.minutes > 0 ? cfg.run.minutes * 60 : Infinity;
  const means = new RunningMeans();
  const micro = cfg.optim.microbatch > 0 ? cfg.optim.microbatch : cfg.optim.batchSize;
  const nullClass = cfg.model.numClasses;
  let lastLog = performance.now();
  let lastLogExamples = examples;
  let skipped = 0;
  let consecutiveSkips = 0;
  let checkpointDir: string | null = null;
  let reason: TrainResult['reason'] = 'steps';
  let savedAt = -1;
  const startStep = step;
  let loggedAt = step;
  let evaluatedAt = step;
  const emitLog = (lr: number, now: number): void => {
    const row: LogRow = {
      step,
      examples,
      lr,
      imgPerSec: ((examples - lastLogExamples) * 1000) / (now - lastLog),
      elapsed: priorSeconds + (now - t0) / 1000,
      ...means.flush(),
    };
    if (skipped > 0) row.skipped = skipped;
    lastLog = now;
    lastLogExamples = examples;
    loggedAt = step;
    events?.onLog?.(row);
  };
  model.train();

  while (step < cfg.run.steps) {
    // Let the event loop turn: signal handlers (SIGINT/SIGTERM) and finalizers run only there, and
    // an in-memory loader's next() resolves as a microtask that never yields.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const elapsed = priorSeconds + (performance.now() - t0) / 1000;
    // All ranks stop at the same step (a signal or the clock may reach one rank first).
    const ownStop = opts.shouldStop?.() === true;
    const [outOfTime, stopAsked] = dp !== undefined ? dp.agree([elapsed >= budget, ownStop]) : [elapsed >= budget, ownStop];
    if (outOfTime) {
      reason = 'minutes';
      break;
    }
    if (stopAsked) {
      reason = 'signal';
      if (!ownStop) await events?.onPeerStop?.();
      break;
    }
    opts.beforeStep?.(step, { params, ema });
    let batch: Pick<Batch, 'x' | 'y'>;
    try {
      batch = await opts.data.next();
    } catch (e) {
      throw dataFailure(e, step, step === startStep ? null : savedAt === step ? checkpointDir : save());
    }
    const lr = lrAt(step);
    const stats: StepStats = { keys: [], chunks: [] };
    const localLoss = torch.tidy(() => {
      const B = batch.x.size(0); // this rank's rows: batchSize / worldSize
      model.zeroGrad();
      let total = 0;
      for (let i = 0; i < B; i += micro) {
        const n = Math.min(micro, B - i);
        // Each microbatch's randomness from its place in the global batch (data-parallel.ts).
        if (dp !== undefined) torch.manualSeed(microbatchSeed(cfg.run.seed, step, dp.rank * B + i));
        torch.tidy(() => {
          const x = batch.x.narrow(0, i, n); // (b, C, H, W)
          const kwargs: ModelKwargs = opts.batchKwargs?.(x) ?? {};
          if (cfg.run.classCond) {
            let y = batch.y.narrow(0, i, n); // (b,)
            if (cfg.optim.classDropout > 0) {
              // Replace labels by the null class with probability p (classifier-free guidance).
              const drop = torch.rand([n], { device }).lt(cfg.optim.classDropout);
              y = torch.where(drop, nullClass, y);
            }
            kwargs.y = y;
          }
          // Distillation replaces the diffusion loss (lossFn draws its own timesteps).
          const { timesteps, weights } = opts.lossFn ? { timesteps: null, weights: null } : sampler.sample(n, undefined, device);
          const forward = () => {
            const losses = opts.lossFn ? opts.lossFn(modelFn, x, kwargs) : diffusion.trainingLosses(modelFn, x, timesteps!, { modelKwargs: kwargs });
            return { losses, loss: (weights ? losses.loss.mul(weights) : losses.loss).mean().mul(n / B) };
          };
          // Data-parallel: the last microbatch's backward all-reduces the accumulated gradients.
          const { losses, loss } = dp !== undefined ? dp.forward(i + n >= B, forward) : forward();
          loss.backward();
          const drawn = timesteps ?? (losses as { timesteps: Tensor }).timesteps;
          const ts = drawn.toArray();
          if (dp !== undefined) {
            // Logged and fed to the schedule sampler once every rank's values are gathered.
            const values: Record<string, number[]> = { loss: losses.loss.detach().toArray() as number[] };
            if ('mse' in losses && losses.mse) values.mse = losses.mse.detach().toArray() as number[];
            if ('vb' in losses && losses.vb) values.vb = losses.vb.detach().toArray() as number[];
            stats.keys = Object.keys(values);
            stats.chunks.push({ t: ts as number[], values });
            total += loss.item();
            return;
          }
          if (sampler instanceof LossSecondMomentResampler && !opts.lossFn) sampler.updateWithLocalLosses(drawn, losses.loss.detach());
          means.addByQuartile('loss', losses.loss.detach().toArray(), ts, diffusion.numTimesteps);
          if ('mse' in losses && losses.mse) means.addByQuartile('mse', losses.mse.detach().toArray(), ts, diffusion.numTimesteps);
          if ('vb' in losses && losses.vb) means.addByQuartile('vb', losses.vb.detach().toArray(), ts, diffusion.numTimesteps);
          total += loss.item();
        });
      }
      return total;
    });
    let stepLoss = localLoss;
    if (dp !== undefined) {
      stepLoss = dp.mean(localLoss);
      const all = dp.addGathered(means, stats, diffusion.numTimesteps);
      if (sampler instanceof LossSecondMomentResampler) {
        sampler.updateWithLocalLosses(all.t, all.loss);
      }
    }
    // A bucketed loader's last batch of a bucket may be short (data/buckets.ts): count its rows.
    const rows = dp !== undefined ? cfg.optim.batchSize : batch.x.size(0);
    batch.x.dispose();
    batch.y.dispose();

    const gradNorm = torch.optim.clipGradNorm_(params, cfg.optim.gradClip > 0 ? cfg.optim.gradClip : Infinity);
    if (!Number.isFinite(stepLoss) || !Number.isFinite(gradNorm)) {
      if (cfg.run.onNan === 'stop') {
        throw new TrainingError(
          `the loss became ${Number.isNaN(stepLoss) || Number.isNaN(gradNorm) ? 'NaN' : 'infinite'} at step ${step + 1}; ` +
            'nothing was saved from this step (the last checkpoint is intact). Lower --lr, set --grad-clip, or pass --on-nan skip',
        );
      }
      // A skipped step still uses up its batch and its place in the step count (so a run always
      // ends), but changes no weight; a loss that stays broken is an error all the same.
      skipped++;
      consecutiveSkips++;
      model.zeroGrad();
      step++;
      examples += rows;
      events?.onSkip?.(step, skipped);
      if (consecutiveSkips >= MAX_CONSECUTIVE_SKIPS) {
        throw new TrainingError(`the loss was not finite for ${consecutiveSkips} steps in a row (up to step ${step}); stopping. Lower --lr or set --grad-clip`);
      }
      continue;
    }
    consecutiveSkips = 0;
    for (const g of optimizer.paramGroups) g.lr = lr;
    torch.tidy(() => optimizer.step());
    ema.update(step);
    step++;
    examples += rows;
    means.add('grad_norm', gradNorm);
    const now = performance.now();
    events?.onStep?.(step, { elapsed: priorSeconds + (now - t0) / 1000, totalSteps: cfg.run.steps, budgetSeconds: budget, loss: stepLoss });

    if (cfg.run.logInterval > 0 && step % cfg.run.logInterval === 0) emitLog(lr, now);
    if (cfg.run.saveInterval > 0 && step % cfg.run.saveInterval === 0) {
      checkpointDir = save();
      savedAt = step;
    }
    if (cfg.run.previewInterval > 0 && step % cfg.run.previewInterval === 0 && events?.onPreview) {
      await withEmaWeights(model, params, ema, cfg.optim.emaRates[0], () => events!.onPreview!(step, model));
    }
    if (cfg.run.evalInterval > 0 && step % cfg.run.evalInterval === 0 && events?.onEvaluate) {
      await withEmaWeights(model, params, ema, cfg.optim.emaRates[0], () => events!.onEvaluate!(step, model));
      evaluatedAt = step;
    }
  }
  // The steps since the last log row are logged too, so short runs still have a curve.
  if (cfg.run.logInterval > 0 && loggedAt !== step) emitLog(lrAt(step - 1), performance.now());
  if (savedAt !== step) checkpointDir = save();
  if (dp !== undefined) {
    dp.checkIdentical([...ema.shadows.values()].flat(), 'the EMA weights');
    dp.dispose();
  }
  if (cfg.run.evalInterval > 0 && evaluatedAt !== step && events?.onEvaluate && reason !== 'signal') {
    await withEmaWeights(model, params, ema, cfg.optim.emaRates[0], () => events!.onEvaluate!(step, model));
  }
  ema.dispose();
  // Nothing outside holds the model or the optimizer now: free them here rather than leave
  // their tensors to the GC (a process that trains, then samples, would hold both sets).
  optimizer.dispose();
  model.zeroGrad();
  torch.dispose(Object.fromEntries(model.stateDict()));
  return { step, checkpointDir, reason, seconds: priorSeconds + (performance.now() - t0) / 1000, skipped };
}

/**
 * Bad data surfaces between steps (a file that cannot be decoded). The steps done since the last
 * checkpoint were saved by the caller, so nothing is lost; the message says where to go on from.
 * @param e the error from the batch source.
 * @param step the last completed step.
 * @param saved the checkpoint just saved, or null when there was nothing new to save.
 * @returns the error to throw.
 */
function dataFailure(e: unknown, step: number, saved: string | null): unknown {
  if (!(e instanceof DataError) || saved === null) return e;
  return new DataError(`${e.message} (training stopped after step ${step}, saved in ${saved}; continue with --resume)`, e.path);
}

/**
 * Copies a checkpoint's trained parameters (a fine-tune's subset) into the model: exactly those
 * names, with the same shapes; the rest of the model came from prepareModel.
 */
function loadTrained(trained: [string, Tensor][], saved: Record<string, Tensor>): void {
  const names = new Set(trained.map(([n]) => n));
  const missing = trained.filter(([n]) => saved[n] === undefined).map(([n]) => n);
  const unexpected = Object.keys(saved).filter((n) => !names.has(n));
  if (missing.length > 0 || unexpected.length > 0) {
    throw new Error(`the trained parameters differ (${missing.length ? `missing ${missing[0]}` : `unexpected ${unexpected[0]}`})`);
  }
  for (const [n, p] of trained) {
    const v = saved[n]!;
    if (v.shape.join() !== p.shape.join()) throw new Error(`${n} has shape [${v.shape.join(', ')}], the model [${p.shape.join(', ')}]`);
  }
  torch.noGrad(() => trained.forEach(([n, p]) => p.copy_(saved[n]!)));
}

/** Runs fn with the EMA weights of `rate` swapped into the trained parameters (eval mode), then restores. */
async function withEmaWeights(model: ReturnType<typeof createBackbone>, params: Tensor[], ema: EMA, rate: number | undefined, fn: () => Promise<void> | void): Promise<void> {
  const backup = torch.noGrad(() => torch.tidy(() => params.map((p) => p.detach().clone().keep())));
  if (rate !== undefined) ema.copyTo(rate, params);
  model.eval();
  try {
    await fn();
  } finally {
    torch.noGrad(() => params.forEach((p, i) => p.copy_(backup[i]!)));
    for (const b of backup) b.dispose();
    model.train();
  }
}
