// From an autoencoder checkpoint on disk to a frozen Autoencoder (eval mode), identified by a
// hash of its weights so a latent diffusion model can insist on the one it was trained with.
import path from 'node:path';

import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { baseModelHash } from '../adapters/lora-file.js';
import { firstLine } from '../io/errors.js';
import { Autoencoder, AutoencoderConfigError, type AutoencoderKind } from '../models/autoencoder.js';
import { isAutoencoderConfig, type AutoencoderTrainConfig } from '../train/autoencoder-config.js';
import { CheckpointError, loadCheckpoint, MISMATCHED } from '../train/checkpoint.js';

export interface LoadedAutoencoder {
  ae: Autoencoder;
  config: AutoencoderTrainConfig;
  /** The checkpoint directory loaded. */
  dir: string;
  step: number;
  /** baseModelHash of its weights (16 hex digits). */
  hash: string;
}

const KIND_NAME: Record<AutoencoderKind, string> = { kl: 'a KL (VAE)', vq: 'a VQ (VQ-VAE)' };

/**
 * Loads an autoencoder for encoding and decoding (frozen, eval mode: a VQ codebook no longer moves).
 * @param p its training output folder or a checkpoint directory.
 * @param needKind refuse an autoencoder of the other kind (with `what` naming the use).
 * @throws CheckpointError for a missing, damaged or wrong checkpoint.
 */
export function loadAutoencoder(p: string, needKind?: { kind: AutoencoderKind; what: string }): LoadedAutoencoder {
  const ck = loadCheckpoint(p, { weightsOnly: true, emaRate: null });
  const config = ck.state.config as unknown;
  if (!isAutoencoderConfig(config)) {
    torch.dispose(ck.model);
    throw new CheckpointError(`${ck.dir}: not an autoencoder checkpoint (it holds a diffusion model); give the output folder of 'diffuse autoencoder train'`);
  }
  if (needKind !== undefined && config.autoencoder.kind !== needKind.kind) {
    torch.dispose(ck.model);
    throw new CheckpointError(`${ck.dir}: ${KIND_NAME[config.autoencoder.kind]} autoencoder; ${needKind.what} needs ${KIND_NAME[needKind.kind]} one (train it with --kind ${needKind.kind})`);
  }
  let ae: Autoencoder;
  try {
    // Its own generator for the throwaway initial weights: loading must not move the default
    // generator (a latent run loads the autoencoder lazily, after seeding its own draws).
    ae = torch.tidy(() => new Autoencoder(config.autoencoder, new torch.Generator({ seed: 0 })));
    ae.loadStateDict(ck.model);
  } catch (e) {
    const why = e instanceof AutoencoderConfigError ? `its config describes no buildable autoencoder (${e.message})` : `the weights do not fit its config (${firstLine(e)}); ${MISMATCHED}`;
    throw new CheckpointError(`${ck.dir}: ${why}`);
  } finally {
    torch.dispose(ck.model);
  }
  ae.eval();
  for (const q of ae.parameters()) q.requiresGrad_(false);
  return { ae, config, dir: ck.dir, step: ck.state.step, hash: baseModelHash(ae) };
}

/**
 * The output folder an autoencoder checkpoint directory belongs to (…/OUT/checkpoints/step-N → OUT),
 * recorded by latent diffusion runs so a later resume or sample finds the newest weights' folder.
 */
export function autoencoderRunFolder(dir: string): string {
  return path.basename(path.dirname(dir)) === 'checkpoints' ? path.dirname(path.dirname(dir)) : dir;
}

/**
 * Scaled latents of images: scaleFactor · encode(x), in batches, no grad.
 * @param ae a frozen autoencoder. @param images (N, C, H, W) in [−1, 1]. @param scaleFactor the LDM scale.
 * @returns (N, c, h, w)
 */
export function encodeScaled(ae: Autoencoder, images: Tensor, scaleFactor: number, batch = 256): Tensor {
  return torch.noGrad(() => torch.tidy(() => {
    const parts: Tensor[] = [];
    for (let i = 0; i < images.size(0); i += batch) parts.push(ae.encode(images.narrow(0, i, Math.min(batch, images.size(0) - i))).mul(scaleFactor));
    return torch.cat(parts, 0);
  }));
}

/** Images from scaled latents: decode(z / scaleFactor), clamped to [−1, 1]. @param z (B, c, h, w) @returns (B, C, H, W) */
export function decodeScaled(ae: Autoencoder, z: Tensor, scaleFactor: number): Tensor {
  return torch.noGrad(() => torch.tidy(() => ae.decode(z.div(scaleFactor)).clamp(-1, 1)));
}
