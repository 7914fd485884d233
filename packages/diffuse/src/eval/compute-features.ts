// Images → feature vectors (and logits) through a feature network, batch by batch.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import type { AnyImageDataset } from '../data/dataset.js';
import { BatchLoader } from '../data/loader.js';
import type { FeatureExtractor } from './features/extractor.js';

/** The features of a whole image set. */
export interface FeatureSet {
  /** (N, D) float32. */
  features: Tensor;
  /** (N, K) float32 logits, or null when the network has none. */
  logits: Tensor | null;
}

export interface ComputeFeaturesOptions {
  /** Images per forward pass (default 50, as pytorch-fid). */
  batchSize?: number;
  /** Called after each batch with (images done, total). */
  progress?: (done: number, total: number) => void;
}

function checkFormat(extractor: FeatureExtractor, channels: number, size: number): void {
  if (channels !== extractor.channels) throw new RangeError(`computeFeatures: '${extractor.name}' takes ${extractor.channels}-channel images, got ${channels}`);
  if (extractor.inputSize !== null && size !== extractor.inputSize) {
    throw new RangeError(`computeFeatures: '${extractor.name}' takes ${extractor.inputSize}×${extractor.inputSize} images, got ${size}×${size}`);
  }
}

/**
 * Features of every image of a set, in order.
 * @param extractor the feature network.
 * @param images a dataset already in the network's format (see openImageSet), or a tensor
 *   (N, C, H, W) of images in [−1, 1].
 * @param options batchSize, progress.
 * @returns features (N, D) and logits (N, K) or null; the caller disposes them.
 */
export async function computeFeatures(extractor: FeatureExtractor, images: AnyImageDataset | Tensor, options: ComputeFeaturesOptions = {}): Promise<FeatureSet> {
  const batchSize = options.batchSize ?? 50;
  const features: Tensor[] = [];
  const logits: Tensor[] = [];
  const take = (x: Tensor): void => {
    const out = extractor.extract(x);
    features.push(out.features.keep());
    if (out.logits) logits.push(out.logits.keep());
  };
  try {
    if (images instanceof torch.Tensor) {
      const [n, c, h] = images.shape as [number, number, number];
      checkFormat(extractor, c, h);
      for (let i = 0; i < n; i += batchSize) {
        const b = Math.min(batchSize, n - i);
        torch.tidy(() => take(images.narrow(0, i, b)));
        options.progress?.(i + b, n);
      }
    } else {
      checkFormat(extractor, images.channels, images.size);
      const loader = new BatchLoader(images, { batchSize, shuffle: false, dropLast: false });
      try {
        let done = 0;
        for (let k = 0; k < loader.batchesPerEpoch; k++) {
          const batch = await loader.next();
          torch.tidy(() => take(batch.x));
          torch.dispose([batch.x, batch.y]);
          done += batch.indices.length;
          options.progress?.(done, images.length);
        }
      } finally {
        await loader.close();
      }
    }
    return torch.tidy(() => ({ features: torch.cat(features), logits: logits.length > 0 ? torch.cat(logits) : null }));
  } finally {
    torch.dispose([features, logits]);
  }
}
