// What the metrics need from a feature network: its input format, and features (and logits,
// for the Inception Score) of a batch of images.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { DataError, firstLine } from '../../io/errors.js';

/** The features of one batch. */
export interface FeatureBatch {
  /** (B, D) float32. */
  features: Tensor;
  /** (B, K) class logits, or null when the network has none. */
  logits: Tensor | null;
}

/** A fixed network that maps images to feature vectors. */
export interface FeatureExtractor {
  /** Short name ('digits', 'inception'). */
  readonly name: string;
  /** Identifies the network and its weights (name + a hash of the weights file), for caches. */
  readonly id: string;
  /** D, the feature size. */
  readonly featureDim: number;
  /** K, the number of logits (0 when the network has none). */
  readonly numClasses: number;
  /** Channels the network takes (images are converted to it: gray ↔ RGB). */
  readonly channels: 1 | 3;
  /** Images are resized to size×size before the network; null: any size (the network resizes). */
  readonly inputSize: number | null;
  /**
   * Features of a batch, without gradients.
   * @param x (B, channels, H, W) images in [−1, 1].
   */
  extract(x: Tensor): FeatureBatch;
  /** Releases the weights. */
  dispose(): void;
}

/** sha256 of a file, hex (identifies weights in cache keys). */
export function fileHash(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/**
 * Wraps a network whose forward gives features and logits as a FeatureExtractor (eval mode,
 * no gradients).
 * @param name short name; @param id name plus a weights hash; @param net the network.
 * @param o its input format and output sizes.
 */
export function extractorOf(
  name: string,
  id: string,
  net: torch.nn.Module & { forward(x: Tensor): FeatureBatch },
  o: { channels: 1 | 3; inputSize: number | null; featureDim: number; numClasses: number },
): FeatureExtractor {
  net.eval();
  return {
    name,
    id,
    ...o,
    extract: (x) => torch.noGrad(() => net.forward(x)),
    dispose: () => torch.dispose([...net.parameters(), ...net.buffers()]),
  };
}

/**
 * Loads a safetensors state dict into a network (strict: every name and shape must fit).
 * @param net the network; @param file the weights; @param hint how to get the right file.
 * @returns net, in eval mode.
 * @throws DataError naming the file when it is missing, unreadable or does not fit.
 */
export function loadWeights<M extends torch.nn.Module>(net: M, file: string, hint: string): M {
  let tensors: Record<string, Tensor> = {};
  try {
    tensors = torch.loadSafetensors(file).tensors;
    net.loadStateDict(tensors);
  } catch (e) {
    torch.dispose([...net.parameters(), ...net.buffers()]);
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : firstLine(e);
    throw new DataError(`${file}: cannot load the ${net.constructor.name} weights (${why}); ${hint}`, file);
  } finally {
    torch.dispose(tensors);
  }
  return net.eval();
}
