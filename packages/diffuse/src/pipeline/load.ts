// From a checkpoint on disk to a model ready to sample: config, weights (EMA or raw), and the
// DiffusionModelSpec the samplers take.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import type { DiffusionModelSpec } from '../samplers/denoiser.js';
import { firstLine } from '../io/errors.js';
import { CheckpointError, loadCheckpoint, MISMATCHED } from '../train/checkpoint.js';
import type { TrainConfig } from '../train/config.js';
import { computeDtypeFor, type Precision } from '../models/precision.js';
import { asModelFn, betasFor, createBackbone, meanTypeOf, ModelConfigError, varTypeOf, type Backbone } from '../train/factory.js';
import { alphasCumprodOf } from '../diffusion/schedules.js';
import { decodeLatents, frozenAutoencoder } from './latent.js';

/** Checkpoints shipped with the package, by name (`--checkpoint digits-cpu`). */
export const SHIPPED_MODELS_DIR = fileURLToPath(new URL('../../../models', import.meta.url));

/** A checkpoint path, or the name of a shipped model when no such path exists. */
export function resolveModelPath(p: string): string {
  if (existsSync(p)) return p;
  const shipped = path.join(SHIPPED_MODELS_DIR, p);
  if (/^[a-z0-9-]+$/.test(p) && existsSync(shipped)) return shipped;
  return p;
}

export interface Pipeline {
  dir: string;
  /** Where the model's weights live; samples are drawn there. */
  device: torch.Device;
  step: number;
  config: TrainConfig;
  model: Backbone;
  spec: DiffusionModelSpec;
  /** The EMA rate whose weights are loaded, or null for the raw weights. */
  emaRate: number | null;
  /** Latent models: scaled latents (B, c, h, w) → images (B, C, H, W) in [−1, 1] (the frozen autoencoder's decoder). */
  decode?: (z: Tensor) => Tensor;
}

export interface LoadPipelineOptions {
  /** EMA rate to load; 'none' for the raw weights; default the checkpoint's first EMA rate. */
  ema?: number | 'none';
  /** Clamp predicted x_0 to [-1, 1] while sampling (default true, as improved-diffusion). */
  clipDenoised?: boolean;
  /** Where to run the model (default 'cpu'). */
  device?: torch.Device;
  /** Compute precision (default 'auto': bfloat16 on CPUs with AVX512-BF16/AMX). */
  precision?: Precision;
}

/**
 * Loads a checkpoint for sampling: builds the model its config describes and loads the EMA (or
 * raw) weights into it, in eval mode.
 * @param checkpoint a training output folder, a checkpoint directory, or a shipped model name.
 * @throws CheckpointError for a missing, corrupt or mismatched checkpoint.
 */
export function loadPipeline(checkpoint: string, options: LoadPipelineOptions = {}): Pipeline {
  const requested = options.ema === 'none' ? null : options.ema;
  const ck = loadCheckpoint(resolveModelPath(checkpoint), { weightsOnly: true, emaRate: requested === undefined ? undefined : requested });
  const config = ck.state.config;
  const other = notADiffusionModel(config);
  if (other !== null) {
    torch.dispose(ck.model);
    throw new CheckpointError(`${ck.dir}: ${other}`);
  }
  const adapter = config.lora !== undefined ? { what: 'a LoRA fine-tune', flag: 'lora', base: config.lora.base } : config.controlnet !== undefined ? { what: 'a ControlNet run', flag: 'controlnet', base: config.controlnet.base } : null;
  if (adapter !== null) {
    torch.dispose(ck.model);
    for (const sd of ck.ema.values()) torch.dispose(sd);
    throw new CheckpointError(`${ck.dir}: ${adapter.what} holds only its own weights; sample it on its base: --checkpoint ${adapter.base} --${adapter.flag} ${path.dirname(path.dirname(ck.dir))}`);
  }
  const rate = options.ema === 'none' ? null : (options.ema ?? ck.state.emaRates[0] ?? null);
  let model: Backbone;
  try {
    model = torch.tidy(() => createBackbone(config));
  } catch (e) {
    torch.dispose(ck.model);
    for (const sd of ck.ema.values()) torch.dispose(sd);
    if (e instanceof ModelConfigError) throw new CheckpointError(`${ck.dir}: its config describes no buildable model (${e.message})`);
    throw e;
  }
  const weights = rate === null ? ck.model : { ...ck.model, ...ck.ema.get(rate) };
  try {
    model.loadStateDict(weights);
  } catch (e) {
    throw new CheckpointError(`${ck.dir}: the weights do not fit the model its config describes (${firstLine(e)}); ${MISMATCHED}`);
  } finally {
    torch.dispose(ck.model);
    for (const sd of ck.ema.values()) torch.dispose(sd);
  }
  model.eval();
  if (options.device !== undefined && options.device !== 'cpu') model.to(options.device);
  torch.nn.setComputeDtype(model, computeDtypeFor(options.precision, options.device ?? 'cpu'));
  return { ...pipelineFromModel(config, model, options.clipDenoised ?? true, options.device), dir: ck.dir, step: ck.state.step, emaRate: rate };
}

/**
 * What a checkpoint of another kind is, for the one-line refusal (autoencoder and prior runs keep
 * their own config in state.json), or null for a diffusion model's.
 */
export function notADiffusionModel(config: unknown): string | null {
  const kind = (config as { kind?: unknown }).kind;
  if (kind === 'autoencoder') return "an autoencoder, not a diffusion model; use 'diffuse autoencoder reconstruct|encode|info', or train on its latents with 'diffuse train --autoencoder'";
  if (kind === 'prior') return "a PixelCNN prior, not a diffusion model; sample it with 'diffuse prior sample'";
  return null;
}

/**
 * A pipeline around a model in memory (e.g. during training, with EMA weights swapped in).
 * @param config the run's config; @param model its network, UNet or DiT (put in eval mode by the caller).
 */
export function pipelineFromModel(config: TrainConfig, model: Backbone, clipDenoised = true, device: torch.Device = 'cpu'): Pipeline {
  const latent = config.autoencoder;
  if (latent !== undefined) frozenAutoencoder(latent); // a missing or different autoencoder fails here, before sampling
  return {
    dir: '',
    device,
    step: 0,
    config,
    model,
    emaRate: null,
    // Latents are not bounded to [−1, 1]: clamping x̂_0 there would distort them (LDM does not).
    decode: latent !== undefined ? (z) => decodeLatents(latent, z) : undefined,
    spec: {
      model: asModelFn(model),
      alphasCumprod: alphasCumprodOf(betasFor(config.diffusion)),
      meanType: meanTypeOf(config.diffusion),
      varType: varTypeOf(config.diffusion),
      rescaleTimesteps: config.diffusion.rescaleTimesteps,
      clipDenoised: clipDenoised && latent === undefined,
    },
  };
}
