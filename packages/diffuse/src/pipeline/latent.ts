// Latent diffusion's first stage around a diffusion model (Rombach et al. 2022): the frozen
// autoencoder a run records (path + weights hash), its training latents encoded once and cached
// (or batch by batch), and decoding of sampled latents into images.
import { existsSync } from 'node:fs';
import path from 'node:path';

import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { F32ArrayDataset } from '../data/array-dataset.js';
import { isAsyncDataset, type AnyImageDataset } from '../data/dataset.js';
import { readNpzSync, writeNpz } from '../io/npz.js';
import type { Autoencoder } from '../models/autoencoder.js';
import { CheckpointError } from '../train/checkpoint.js';
import type { LatentAutoencoderConfig } from '../train/config.js';
import type { BatchSource } from '../train/trainer.js';
import { decodeScaled, encodeScaled, loadAutoencoder, type LoadedAutoencoder } from './autoencoder.js';

/** What a latent run records of its autoencoder. */
export function latentAutoencoderConfig(loaded: LoadedAutoencoder, encodeOnTheFly: boolean): LatentAutoencoderConfig {
  const a = loaded.config.autoencoder;
  return { path: path.resolve(loaded.dir), hash: loaded.hash, kind: a.kind, scaleFactor: a.scaleFactor, imageSize: a.imageSize, channels: a.inChannels, encodeOnTheFly };
}

const loaded = new Map<string, Autoencoder>();

/**
 * The frozen autoencoder a latent run was trained with, loaded once per process.
 * @throws CheckpointError when it is gone or its weights are not the recorded ones.
 */
export function frozenAutoencoder(ref: LatentAutoencoderConfig): Autoencoder {
  const key = `${ref.path}\0${ref.hash}`;
  const hit = loaded.get(key);
  if (hit !== undefined) return hit;
  if (!existsSync(ref.path)) throw new CheckpointError(`${ref.path}: the autoencoder this latent model was trained with is gone; put it back there (weights ${ref.hash})`);
  const ae = loadAutoencoder(ref.path);
  if (ae.hash !== ref.hash) {
    throw new CheckpointError(`${ae.dir}: not the autoencoder this latent model was trained with (its weights are ${ae.hash}, the model needs ${ref.hash}); restore that autoencoder or train a new latent model`);
  }
  loaded.set(key, ae.ae);
  return ae.ae;
}

/**
 * Checks that an autoencoder given again (a resume's --autoencoder) is the recorded one.
 * @throws CheckpointError naming both hashes.
 */
export function checkSameAutoencoder(ref: LatentAutoencoderConfig, given: LoadedAutoencoder): void {
  if (given.hash !== ref.hash) {
    throw new CheckpointError(`${given.dir}: this run was trained on the latents of another autoencoder (weights ${ref.hash} at ${ref.path}; this one is ${given.hash}); resume with that one`);
  }
}

/** Decodes scaled latents (B, c, h, w) to images (B, C, H, W) in [−1, 1]. */
export function decodeLatents(ref: LatentAutoencoderConfig, z: Tensor): Tensor {
  return decodeScaled(frozenAutoencoder(ref), z, ref.scaleFactor);
}

/** Encodes images (B, C, H, W) in [−1, 1] to scaled latents (B, c, h, w). */
export function encodeImages(ref: LatentAutoencoderConfig, x: Tensor): Tensor {
  return encodeScaled(frozenAutoencoder(ref), x, ref.scaleFactor);
}

/**
 * The scaled latents of a whole image dataset, encoded once (in batches of 256) and cached in
 * `cacheFile` (an .npz keyed by the autoencoder's hash in its name) when one is given.
 * @returns a dataset of latents with the images' labels.
 */
export async function encodeDataset(ref: LatentAutoencoderConfig, images: AnyImageDataset, cacheFile?: string): Promise<F32ArrayDataset> {
  const ae = frozenAutoencoder(ref);
  const [c, h] = ae.latentShape();
  const n = images.length;
  const labels = new Int32Array(n);
  if (cacheFile !== undefined && existsSync(cacheFile)) {
    const a = readNpzSync(cacheFile);
    const z = a.get('arr_0');
    if (z !== undefined && z.shape[0] === n && z.data instanceof Float32Array) {
      for (let i = 0; i < n; i++) labels[i] = isAsyncDataset(images) ? images.label(i) : images.get(i).label;
      return latentSet(z.data, labels, images.numClasses, n, c, h);
    }
  }
  const frame = images.channels * images.size * images.size;
  const latents = new Float32Array(n * c * h * h);
  for (let start = 0; start < n; start += 256) {
    const count = Math.min(256, n - start);
    const buf = new Float32Array(count * frame);
    for (let i = 0; i < count; i++) {
      const s = isAsyncDataset(images) ? await images.getAsync(start + i) : images.get(start + i);
      buf.set(s.image, i * frame);
      labels[start + i] = s.label;
    }
    torch.tidy(() => {
      const z = encodeScaled(ae, torch.tensor(buf, { shape: [count, images.channels, images.size, images.size] }), ref.scaleFactor); // (b, c, h, w)
      latents.set(z.contiguous().data() as Float32Array, start * c * h * h);
    });
  }
  if (cacheFile !== undefined) await writeNpz(cacheFile, { arr_0: { dtype: 'float32', shape: [n, c, h, h], data: latents } });
  return latentSet(latents, labels, images.numClasses, n, c, h);
}

function latentSet(latents: Float32Array, labels: Int32Array, numClasses: number, n: number, c: number, size: number): F32ArrayDataset {
  return new F32ArrayDataset({ images: latents, n, channels: c, size, labels: numClasses > 0 ? labels : undefined, numClasses: numClasses > 0 ? numClasses : undefined });
}

/** A batch source whose images are encoded to scaled latents as they arrive (--encode-on-the-fly). */
export function encodingSource(ref: LatentAutoencoderConfig, src: BatchSource): BatchSource {
  return {
    position: () => src.position(),
    async next() {
      const b = await src.next();
      const z = encodeImages(ref, b.x).keep(); // (B, c, h, w)
      b.x.dispose();
      return { x: z, y: b.y };
    },
  };
}
