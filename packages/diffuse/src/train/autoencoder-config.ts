// The configuration of an autoencoder training run ('diffuse autoencoder train'), JSON-able and
// stored in each of its checkpoints, and its presets for the bundled digits.
import { validateAutoencoderConfig, type AutoencoderConfig } from '../models/autoencoder.js';
import { validatePatchDiscriminator } from '../models/patch-discriminator.js';
import type { DiscLoss } from './adversarial.js';
import { mergeInto, type DeepPartial } from './config.js';

/** VQGAN's optional patch discriminator (taming's disc_* settings), off when weight is 0. */
export interface DiscConfig {
  /** Weight of the adversarial term on top of the adaptive weight (taming's disc_weight; 0 = no discriminator). */
  weight: number;
  /** Steps before the discriminator trains and the adversarial term is used (taming's disc_start). */
  start: number;
  /** Strided layers of the PatchGAN (taming's disc_num_layers). */
  layers: number;
  /** Width of its first layer (taming's disc_ndf). */
  channels: number;
  /** Its AdamW learning rate, betas (0.5, 0.9) as taming; 0 = the autoencoder's lr. */
  lr: number;
  /** Its loss: hinge (VQGAN) or vanilla (non-saturating BCE). */
  loss: DiscLoss;
}

export interface AutoencoderTrainConfig {
  /** Marks the checkpoint as an autoencoder's (a diffusion checkpoint has model/diffusion instead). */
  kind: 'autoencoder';
  autoencoder: AutoencoderConfig;
  /** Absent in checkpoints from before the discriminator existed (read them as weight 0). */
  disc: DiscConfig;
  optim: {
    lr: number;
    weightDecay: number;
    warmupSteps: number;
    batchSize: number;
    /** Clip the gradient norm (0 = off). */
    gradClip: number;
  };
  run: {
    /** 'mnist', an image folder, or an .npz file. */
    data: string;
    /** Use only the first N images (mnist only; 8000 keeps the 2,000 held-out digits unseen; 0 = all). */
    limit: number;
    steps: number;
    minutes: number;
    logInterval: number;
    saveInterval: number;
    /** Write an input-vs-reconstruction grid every N steps (0 = off). */
    previewInterval: number;
    keepCheckpoints: number;
    seed: number;
    /** Training images encoded to measure the scale factor at each checkpoint. */
    scaleSamples: number;
  };
}

export function defaultAutoencoderTrainConfig(): AutoencoderTrainConfig {
  return {
    kind: 'autoencoder',
    autoencoder: {
      kind: 'kl', imageSize: 28, inChannels: 1, channels: 32, channelMult: [1, 2, 2], numResBlocks: 1, zChannels: 4, attention: false,
      dropout: 0, recLoss: 'l1', klWeight: 1e-6, codebookSize: 128, commitmentBeta: 0.25, emaDecay: 0, reviveThreshold: 0, scaleFactor: 1,
    },
    disc: defaultDiscConfig(),
    optim: { lr: 1e-3, weightDecay: 0, warmupSteps: 100, batchSize: 64, gradClip: 1 },
    run: { data: 'mnist', limit: 0, steps: 2000, minutes: 0, logInterval: 50, saveInterval: 500, previewInterval: 0, keepCheckpoints: 3, seed: 0, scaleSamples: 512 },
  };
}

/** The discriminator settings when none are given: off; 2 layers of 32→128 channels (5×5 patches on 28×28). */
export function defaultDiscConfig(): DiscConfig {
  return { weight: 0, start: 1000, layers: 2, channels: 32, lr: 0, loss: 'hinge' };
}

/** A run's discriminator settings, defaults filled in (older checkpoints have none). */
export function discConfigOf(cfg: AutoencoderTrainConfig): DiscConfig {
  return { ...defaultDiscConfig(), ...cfg.disc };
}

/**
 * Autoencoder presets for the bundled digits: both train on the first 8,000 digits (the last
 * 2,000 stay held out for reconstruction figures) with f = 4 (28×28 → 7×7).
 * `digits-vae-f4`: KL, 4 latent channels (196 numbers per digit, 4× fewer than pixels).
 * `digits-vq`: VQ, 128 codes of width 16 with EMA updates and dead-code revival (49 indices per digit).
 */
export const AUTOENCODER_PRESETS: Record<string, DeepPartial<AutoencoderTrainConfig>> = {
  'digits-vae-f4': {
    autoencoder: { kind: 'kl', channels: 16, channelMult: [1, 2, 2], zChannels: 4, klWeight: 1e-6, recLoss: 'l1' },
    run: { data: 'mnist', limit: 8000, steps: 3000, minutes: 8, logInterval: 50, saveInterval: 500 },
  },
  'digits-vq': {
    autoencoder: { kind: 'vq', channels: 16, channelMult: [1, 2, 2], zChannels: 16, codebookSize: 128, commitmentBeta: 0.25, emaDecay: 0.99, reviveThreshold: 0.05, recLoss: 'l1' },
    run: { data: 'mnist', limit: 8000, steps: 3000, minutes: 8, logInterval: 50, saveInterval: 500 },
  },
};

/**
 * defaults ← preset ← overrides.
 * @throws RangeError for an unknown preset or a config no autoencoder can be built from.
 */
export function resolveAutoencoderConfig(preset: string | undefined, ...overrides: DeepPartial<AutoencoderTrainConfig>[]): AutoencoderTrainConfig {
  const cfg = defaultAutoencoderTrainConfig();
  if (preset !== undefined) {
    const p = AUTOENCODER_PRESETS[preset];
    if (p === undefined) throw new RangeError(`unknown autoencoder preset '${preset}'; presets: ${Object.keys(AUTOENCODER_PRESETS).join(', ')}`);
    mergeInto(cfg as unknown as Record<string, unknown>, p as Record<string, unknown>);
  }
  for (const o of overrides) mergeInto(cfg as unknown as Record<string, unknown>, o as Record<string, unknown>);
  validateAutoencoderConfig(cfg.autoencoder);
  validateDiscConfig(cfg);
  return cfg;
}

/** Whether a checkpoint's config is an autoencoder's. */
export function isAutoencoderConfig(c: unknown): c is AutoencoderTrainConfig {
  return typeof c === 'object' && c !== null && (c as { kind?: unknown }).kind === 'autoencoder';
}

/** @throws RangeError with one line for discriminator settings that cannot train. */
function validateDiscConfig(cfg: AutoencoderTrainConfig): void {
  const d = cfg.disc;
  if (!(d.weight >= 0)) throw new RangeError(`--disc-weight must be 0 (off) or positive, got ${d.weight}`);
  if (d.weight === 0) return;
  if (d.loss !== 'hinge' && d.loss !== 'vanilla') throw new RangeError(`--disc-loss must be hinge or vanilla, got ${String(d.loss)}`);
  if (!(d.lr >= 0)) throw new RangeError(`--disc-lr must be 0 (the autoencoder's lr) or positive, got ${d.lr}`);
  validatePatchDiscriminator(cfg.autoencoder.imageSize, d.layers);
}
