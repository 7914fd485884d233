// The whole configuration of a training run, JSON-able, stored in every checkpoint so that
// sampling and resuming need no repeated flags. Defaults follow improved-diffusion's
// model_and_diffusion_defaults where they make sense on a CPU; presets override them.
import type { ScheduleSamplerName } from '../diffusion/timestep-sampler.js';
import type { Precision } from '../models/precision.js';
import { parseBuckets, type BucketSize } from '../data/buckets.js';

export type NoiseSchedule = 'linear' | 'cosine' | 'quadratic' | 'sigmoid';
export type MeanTypeName = 'epsilon' | 'start_x' | 'v' | 'previous_x';
export type VarTypeName = 'fixed_small' | 'fixed_large' | 'learned' | 'learned_range';
export type LossName = 'mse' | 'rescaled_mse' | 'kl' | 'rescaled_kl' | 'l1' | 'huber';

export interface ModelConfig {
  /** Image side in pixels (square images). */
  imageSize: number;
  /** 1 for grayscale, 3 for RGB. */
  channels: number;
  modelChannels: number;
  numResBlocks: number;
  channelMult: number[];
  /** Downsample rates at which attention is used (2 = after the first downsampling). */
  attentionDs: number[];
  numHeads: number;
  /** Channels per head; -1 uses numHeads instead. */
  numHeadChannels: number;
  dropout: number;
  useScaleShiftNorm: boolean;
  resblockUpdown: boolean;
  useCheckpoint: boolean;
  /** Number of classes for class conditioning (0 = unconditional). */
  numClasses: number;
  /** guided-diffusion's q/k/v channel order (imported guided-diffusion models); absent = improved-diffusion's. */
  useNewAttentionOrder?: boolean;
  /** The denoising network (`--model`): 'unet', or 'dit' (checkpoints made before DiT lack it: a UNet). */
  backbone?: Backbone;
  /** DiT: patch side p (1, 2 or 4). The DiT fields are optional for checkpoints made before DiT (DIT_DEFAULTS then). */
  patchSize?: number;
  /** DiT: token width D. */
  hiddenSize?: number;
  /** DiT: number of blocks. */
  depth?: number;
  /** DiT: MLP width / D. */
  mlpRatio?: number;
  /** Clip models: frames T per clip; the model takes (B, C, T, H, W), H = W = imageSize. Absent = an image model. */
  frames?: number;
  /** Clip models: frames per patch pt (T divisible by it); default 1. */
  temporalPatch?: number;
}

export type Backbone = 'unet' | 'dit';

/** A DiT's defaults where a config leaves them out: p = 2, D = 128, 6 blocks (DIT_SIZES.T), MLP ×4. */
export const DIT_DEFAULTS = { patchSize: 2, hiddenSize: 128, depth: 6, mlpRatio: 4 } as const;

export interface DiffusionConfig {
  diffusionSteps: number;
  noiseSchedule: NoiseSchedule;
  meanType: MeanTypeName;
  varType: VarTypeName;
  loss: LossName;
  rescaleTimesteps: boolean;
  zeroTerminalSnr: boolean;
  /** min-SNR-γ loss weighting (0 = off). */
  minSnrGamma: number;
}

export interface OptimConfig {
  lr: number;
  weightDecay: number;
  warmupSteps: number;
  /** Linearly anneal the learning rate to 0 over this many steps (0 = constant). */
  lrAnnealSteps: number;
  batchSize: number;
  /** Microbatch size for gradient accumulation (0 = the whole batch at once). */
  microbatch: number;
  emaRates: number[];
  /** EMA warmup: the decay is min(rate, (1 + step) / (10 + step)). */
  emaWarmup: boolean;
  /** Clip the gradient norm to this value (0 = off). */
  gradClip: number;
  /** Probability of replacing a label by the null class (classifier-free guidance training). */
  classDropout: number;
  scheduleSampler: ScheduleSamplerName;
}

export interface RunConfig {
  /** 'mnist', 'moving-digits' (clips), an image folder, or an .npz file. */
  data: string;
  /** 'moving-digits': digits per clip (default 1; one digit makes the clip's label its class). */
  clipDigits?: number;
  /**
   * Aspect-ratio buckets for a folder of mixed-size images (`--buckets`): 'auto' or 'HxW,...'
   * (data/buckets.ts); absent = every image resized and centre-cropped to imageSize².
   */
  buckets?: string;
  randomFlip: boolean;
  /** Use class labels from the data (needs model.numClasses > 0). */
  classCond: boolean;
  steps: number;
  /** Wall-clock budget in minutes (0 = none); training stops at whichever comes first. */
  minutes: number;
  logInterval: number;
  saveInterval: number;
  previewInterval: number;
  /** Measure FID/KID of the EMA model every N steps and at the end (0 = off). */
  evalInterval: number;
  /** Samples drawn for each evaluation. */
  evalSamples: number;
  keepCheckpoints: number;
  seed: number;
  /** Stop (default) or skip the step when the loss is not finite. */
  onNan: 'stop' | 'skip';
  /**
   * Compute precision: 'bf16' runs convolutions and activations in bfloat16 with float32 master
   * weights, norms and loss; 'auto' (default) picks bf16 on CPUs with AVX512-BF16/AMX.
   */
  precision: Precision;
}

/** A LoRA fine-tune of a base checkpoint ('diffuse finetune'): only the adapter trains. */
export interface LoraRunConfig {
  /** The base checkpoint: a shipped model's name or an absolute path. */
  base: string;
  /** The base weights' hash (adapters/lora-file.ts baseModelHash); a resume checks it. */
  baseHash: string;
  /** The base's EMA rate whose weights were loaded, or null for its raw weights. */
  baseEma: number | null;
  rank: number;
  alpha: number;
  dropout: number;
  /** The targets as given ('attn', 'res', patterns). */
  targets: string[];
  /** The wrapped layers' module paths. */
  paths: string[];
}

/** A ControlNet trained beside a frozen base ('diffuse controlnet train'). */
export interface ControlNetRunConfig {
  /** The base checkpoint: a shipped model's name or an absolute path. */
  base: string;
  baseHash: string;
  baseEma: number | null;
  /** The control map made from each training image. */
  control: 'canny' | 'scribble' | 'lowres';
  /** Channels of the control map. */
  controlChannels: number;
}

export interface TrainConfig {
  model: ModelConfig;
  diffusion: DiffusionConfig;
  optim: OptimConfig;
  run: RunConfig;
  /** Present for LoRA fine-tunes. */
  lora?: LoraRunConfig;
  /** Present for ControlNet runs. */
  controlnet?: ControlNetRunConfig;
  /** Present for distilled students ('diffuse distill'). */
  distill?: DistillRunConfig;
  /** Present for latent diffusion: the frozen autoencoder whose scaled latents the model learns. */
  autoencoder?: LatentAutoencoderConfig;
}

/** One phase of progressive distillation: a student learns two teacher steps in one. */
export interface DistillPhase {
  /** The student's steps N (its teacher took 2N). */
  steps: number;
  /** The student's DDIM grid: N training timesteps, ascending (sample it with exactly these). */
  timesteps: number[];
  /** The training steps of this phase: (fromStep, toStep]. */
  fromStep: number;
  toStep: number;
}

/** A progressive distillation run ('diffuse distill', Salimans & Ho 2022). */
export interface DistillRunConfig {
  method: 'progressive';
  /** The first teacher: a shipped model's name or an absolute path. */
  teacher: string;
  /** Its EMA rate whose weights were loaded, or null for its raw weights. */
  teacherEma: number | null;
  /** DDIM steps of the first teacher (a power-of-two multiple of the final steps). */
  teacherSteps: number;
  /** The first teacher's DDIM grid, ascending (phase 0 halves it). */
  teacherTimesteps: number[];
  /** Loss weighting of the x̂ error: max(SNR, 1) ('truncated-snr') or SNR + 1 ('snr+1'). */
  weighting: 'truncated-snr' | 'snr+1';
  /** Phases in order; the last one's student has the requested steps. */
  phases: DistillPhase[];
  /** The learning rate within each phase (absent in runs made before it existed: constant). */
  lrDecay?: DistillLrDecay;
}

/** Per-phase learning rate: constant, or annealed linearly to 0 within each phase (the paper's). */
export type DistillLrDecay = 'constant' | 'linear';

/**
 * The frozen first stage of a latent diffusion run ('diffuse train --autoencoder AE'): model
 * imageSize/channels are then the latents', these are the images'.
 */
export interface LatentAutoencoderConfig {
  /** The autoencoder's run folder or checkpoint directory, absolute. */
  path: string;
  /** baseModelHash of its weights: a different autoencoder is refused. */
  hash: string;
  kind: 'kl' | 'vq';
  /** LDM's scale factor the latents are multiplied by (1/std of the training latents). */
  scaleFactor: number;
  imageSize: number;
  channels: number;
  /** Encode each batch as it comes instead of the whole dataset once. */
  encodeOnTheFly: boolean;
}

export function defaultConfig(): TrainConfig {
  return {
    model: {
      imageSize: 28,
      channels: 1,
      modelChannels: 32,
      numResBlocks: 2,
      channelMult: [1, 2, 2],
      attentionDs: [2],
      numHeads: 4,
      numHeadChannels: -1,
      dropout: 0.1,
      useScaleShiftNorm: true,
      resblockUpdown: false,
      useCheckpoint: false,
      numClasses: 0,
      backbone: 'unet',
      ...DIT_DEFAULTS,
    },
    diffusion: {
      diffusionSteps: 1000,
      noiseSchedule: 'cosine',
      meanType: 'epsilon',
      varType: 'learned_range',
      loss: 'rescaled_mse',
      rescaleTimesteps: true,
      zeroTerminalSnr: false,
      minSnrGamma: 0,
    },
    optim: {
      lr: 2e-4,
      weightDecay: 0,
      warmupSteps: 0,
      lrAnnealSteps: 0,
      batchSize: 64,
      microbatch: 0,
      emaRates: [0.9999],
      emaWarmup: true,
      gradClip: 1,
      classDropout: 0,
      scheduleSampler: 'uniform',
    },
    run: {
      data: 'mnist',
      randomFlip: false,
      classCond: false,
      steps: 10000,
      minutes: 0,
      logInterval: 50,
      saveInterval: 1000,
      previewInterval: 0,
      evalInterval: 0,
      evalSamples: 1000,
      keepCheckpoints: 3,
      seed: 0,
      onNan: 'stop',
      precision: 'auto',
    },
  };
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends (infer U)[] ? U[] : T[K] extends object ? DeepPartial<T[K]> : T[K] };

/**
 * Named presets. `ref-28` is the reference config of DESIGN.md (for benchmarks and side-by-side
 * checks); `digits-cpu` was chosen by experiment for recognizable digits per CPU-minute on
 * 2 cores (see docs/presets.md).
 */
export const PRESETS: Record<string, DeepPartial<TrainConfig>> = {
  'ref-28': {
    model: {
      imageSize: 28, channels: 1, modelChannels: 32, numResBlocks: 2, channelMult: [1, 2, 2], attentionDs: [2],
      numHeads: 4, numHeadChannels: -1, dropout: 0.1, useScaleShiftNorm: true,
    },
    diffusion: { diffusionSteps: 1000, noiseSchedule: 'cosine', meanType: 'epsilon', varType: 'learned_range', loss: 'rescaled_mse' },
    optim: { lr: 2e-4, weightDecay: 0, batchSize: 64 },
  },
  'digits-cpu': {
    model: {
      imageSize: 28, channels: 1, modelChannels: 32, numResBlocks: 1, channelMult: [1, 2, 2], attentionDs: [],
      numHeads: 4, numHeadChannels: -1, dropout: 0, useScaleShiftNorm: true,
    },
    diffusion: { diffusionSteps: 1000, noiseSchedule: 'cosine', meanType: 'v', varType: 'fixed_small', loss: 'mse' },
    optim: { lr: 1e-3, weightDecay: 0, warmupSteps: 100, batchSize: 32, emaRates: [0.999], emaWarmup: true, gradClip: 1 },
    run: { minutes: 6, logInterval: 100, saveInterval: 1000 },
  },
  // Latent diffusion on a digits autoencoder's 4×7×7 latents (`--autoencoder`, e.g. digits-vae-f4):
  // one level (7 does not halve), attention over all 49 positions (see docs/autoencoders.md).
  'digits-ldm': {
    model: {
      modelChannels: 64, numResBlocks: 2, channelMult: [1], attentionDs: [1], numHeads: 4, numHeadChannels: -1, dropout: 0, useScaleShiftNorm: true,
    },
    diffusion: { diffusionSteps: 1000, noiseSchedule: 'cosine', meanType: 'v', varType: 'fixed_small', loss: 'mse' },
    optim: { lr: 5e-4, weightDecay: 0, warmupSteps: 100, batchSize: 64, emaRates: [0.999], emaWarmup: true, gradClip: 1 },
    run: { minutes: 6, logInterval: 100, saveInterval: 1000 },
  },
  // A DiT for the digits on two CPU cores (docs/dit.md): p = 4 (49 tokens) measured 3× the images/s
  // of p = 2 at width 128 in the same minutes; the diffusion and optimiser as digits-cpu, lr halved for the transformer.
  // Clips of one digit moving on a 32×32 canvas, 8 frames: pt = 2, p = 4 (4·8·8 = 256 tokens), D = 192,
  // 6 blocks had the lowest loss at equal steps of three candidates (docs/dit.md, "Choosing moving-digits").
  'moving-digits': {
    model: { backbone: 'dit', imageSize: 32, channels: 1, frames: 8, temporalPatch: 2, patchSize: 4, hiddenSize: 192, depth: 6, numHeads: 4, mlpRatio: 4, dropout: 0 },
    diffusion: { diffusionSteps: 1000, noiseSchedule: 'cosine', meanType: 'v', varType: 'fixed_small', loss: 'mse' },
    optim: { lr: 5e-4, weightDecay: 0, warmupSteps: 100, batchSize: 16, emaRates: [0.999], emaWarmup: true, gradClip: 1 },
    run: { data: 'moving-digits', minutes: 10, logInterval: 50, saveInterval: 1000 },
  },
  'digits-dit': {
    model: { backbone: 'dit', imageSize: 28, channels: 1, patchSize: 4, hiddenSize: 192, depth: 6, numHeads: 4, mlpRatio: 4, dropout: 0 },
    diffusion: { diffusionSteps: 1000, noiseSchedule: 'cosine', meanType: 'v', varType: 'fixed_small', loss: 'mse' },
    optim: { lr: 5e-4, weightDecay: 0, warmupSteps: 100, batchSize: 32, emaRates: [0.999], emaWarmup: true, gradClip: 1 },
    run: { minutes: 6, logInterval: 100, saveInterval: 1000 },
  },
};

/** Deep-merges src into target: objects recursively, arrays and scalars replace. */
export function mergeInto(target: Record<string, unknown>, src: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(src)) {
    if (v === undefined) continue;
    const t = target[k];
    if (t !== null && typeof t === 'object' && !Array.isArray(t) && v !== null && typeof v === 'object' && !Array.isArray(v)) {
      mergeInto(t as Record<string, unknown>, v as Record<string, unknown>);
    } else {
      target[k] = Array.isArray(v) ? [...v] : v;
    }
  }
}

/** defaults ← preset ← overrides (each level may be partial). */
export function resolveConfig(preset: string | undefined, ...overrides: DeepPartial<TrainConfig>[]): TrainConfig {
  const cfg = defaultConfig();
  if (preset !== undefined) {
    const p = PRESETS[preset];
    if (p === undefined) throw new RangeError(`unknown preset '${preset}'; presets: ${Object.keys(PRESETS).join(', ')}`);
    mergeInto(cfg as unknown as Record<string, unknown>, p as Record<string, unknown>);
  }
  for (const o of overrides) mergeInto(cfg as unknown as Record<string, unknown>, o as Record<string, unknown>);
  // The moving-digits data are clips: a model for them takes 8 frames unless told otherwise.
  if (cfg.run.data === 'moving-digits' && cfg.model.frames === undefined && cfg.model.backbone === 'dit') cfg.model.frames = 8;
  validateConfig(cfg);
  return cfg;
}

/** Checks the combinations the model and diffusion cannot run with; throws RangeError. */
export function validateConfig(cfg: TrainConfig): void {
  const m = cfg.model;
  const levels = m.channelMult.length;
  const div = 2 ** (levels - 1);
  if (cfg.run.data === 'moving-digits' && m.backbone !== 'dit') throw new RangeError("--data moving-digits makes clips, which only the DiT takes: add --model dit (or use --preset moving-digits)");
  if (m.frames !== undefined && m.backbone !== 'dit') throw new RangeError(`clips (${m.frames} frames) need the DiT: add --model dit (the UNet takes images only)`);
  if (m.backbone === 'dit') {
    validateDiT(m);
  } else if (m.imageSize % div !== 0) {
    throw new RangeError(`image size ${m.imageSize} is not divisible by ${div}, which ${levels} levels (channel mult ${m.channelMult.join(',')}) need`);
  }
  if (m.channels !== 1 && m.channels !== 3 && cfg.autoencoder === undefined) throw new RangeError(`channels must be 1 or 3, got ${m.channels}`);
  if (m.backbone !== 'dit' && m.modelChannels % 32 !== 0 && m.modelChannels > 32) throw new RangeError(`model channels must be a multiple of 32 (GroupNorm with 32 groups), got ${m.modelChannels}`);
  if (cfg.optim.microbatch < 0 || (cfg.optim.microbatch > 0 && cfg.optim.microbatch > cfg.optim.batchSize)) {
    throw new RangeError(`microbatch ${cfg.optim.microbatch} must be between 1 and the batch size ${cfg.optim.batchSize} (0 = off)`);
  }
  if (cfg.optim.classDropout > 0 && m.numClasses === 0) throw new RangeError('class dropout needs a class-conditional model (--class-cond)');
  for (const r of cfg.optim.emaRates) if (!(r > 0 && r < 1)) throw new RangeError(`EMA rates must be in (0, 1), got ${r}`);
  if (bucketSizes(cfg) !== undefined && cfg.autoencoder !== undefined) throw new RangeError('--buckets trains on pixels; it does not combine with --autoencoder (latents of one size)');
}

/** What every image side must be a multiple of: a DiT's patch, a UNet's 2^(levels − 1). */
export function sizeDivisor(m: ModelConfig): number {
  return m.backbone === 'dit' ? (m.patchSize ?? DIT_DEFAULTS.patchSize) : 2 ** (m.channelMult.length - 1);
}

/**
 * The bucket sizes of a run with `--buckets` (none without): a pure function of the config, so a
 * checkpoint's config gives the same buckets to `--resume` and `info`.
 * @throws RangeError with one line when a size is malformed or not divisible.
 */
export function bucketSizes(cfg: TrainConfig): BucketSize[] | undefined {
  const spec = cfg.run.buckets;
  if (spec === undefined || spec === '') return undefined;
  const m = cfg.model;
  const d = sizeDivisor(m);
  const what = m.backbone === 'dit' ? `the DiT's patch size ${d}` : `the UNet's ${m.channelMult.length} levels (2^${m.channelMult.length - 1})`;
  return parseBuckets(spec, m.imageSize, d, what);
}

/** The DiT's checks (sizes the patches and heads must divide). */
function validateDiT(m: ModelConfig): void {
  const p = m.patchSize ?? DIT_DEFAULTS.patchSize;
  const d = m.hiddenSize ?? DIT_DEFAULTS.hiddenSize;
  if (![1, 2, 4].includes(p)) throw new RangeError(`patch size must be 1, 2 or 4, got ${p}`);
  if (m.imageSize % p !== 0) throw new RangeError(`image size ${m.imageSize} is not divisible by the patch size ${p}`);
  if (d % m.numHeads !== 0) throw new RangeError(`hidden size ${d} is not divisible by ${m.numHeads} heads`);
  if (m.frames === undefined) {
    if (d % 4 !== 0) throw new RangeError(`hidden size ${d} must be divisible by 4 (the (x, y) sin-cos positions)`);
    return;
  }
  const pt = m.temporalPatch ?? 1;
  if (!Number.isInteger(m.frames) || m.frames < 1) throw new RangeError(`frames must be a positive integer, got ${m.frames}`);
  if (m.frames % pt !== 0) throw new RangeError(`${m.frames} frames are not divisible by the temporal patch ${pt}`);
  if (d % 16 !== 0) throw new RangeError(`hidden size ${d} must be divisible by 16 for a clip model (the (t, x, y) sin-cos positions)`);
}
