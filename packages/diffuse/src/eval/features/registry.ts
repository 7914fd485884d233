// The feature networks by name, and which one suits an image set by default.
import { statSync } from 'node:fs';

import { decodeImage } from '../../data/decode.js';
import { listImageFiles } from '../../data/image-folder.js';
import { readNpzSync } from '../../io/npz.js';
import { DataError } from '../../io/errors.js';
import { isDigitSet } from '../image-sets.js';
import { DIGITS_SIZE, loadDigitsExtractor } from './digits.js';
import type { FeatureExtractor } from './extractor.js';
import { loadInceptionExtractor } from './inception.js';

export const FEATURE_NETWORKS = ['digits', 'inception'] as const;
export type FeatureNetworkName = (typeof FEATURE_NETWORKS)[number];

export interface LoadExtractorOptions {
  /** The Inception weights (safetensors); default $DIFFUSE_INCEPTION_WEIGHTS. */
  inceptionWeights?: string;
  /** A folder with another digits network (default the shipped one). */
  digitsDir?: string;
}

/**
 * A feature network by name.
 * @param name 'digits' (shipped; 28×28 grayscale) or 'inception' (needs converted weights).
 * @throws DataError when inception weights are not given or do not load.
 */
export function loadExtractor(name: FeatureNetworkName, options: LoadExtractorOptions = {}): FeatureExtractor {
  if (name === 'digits') return loadDigitsExtractor(options.digitsDir);
  const weights = options.inceptionWeights ?? process.env.DIFFUSE_INCEPTION_WEIGHTS;
  if (!weights) {
    throw new DataError(
      "the Inception network needs its weights: download pytorch-fid's pt_inception-2015-12-05-6726825d.pth, convert it with scripts/convert-inception-weights.py, and pass --inception-weights FILE (or set DIFFUSE_INCEPTION_WEIGHTS); see docs/evaluation.md",
    );
  }
  return loadInceptionExtractor(weights);
}

/** Image side and channels of the first image of a set, as far as cheaply known. */
async function peek(spec: string): Promise<{ size: number; gray: boolean } | null> {
  if (isDigitSet(spec)) return { size: DIGITS_SIZE, gray: true };
  let dir: boolean;
  try {
    dir = statSync(spec).isDirectory();
  } catch {
    return null; // openImageSet reports it
  }
  if (!dir) {
    if (!spec.toLowerCase().endsWith('.npz')) return null;
    const arr = readNpzSync(spec).get('arr_0');
    if (!arr || arr.shape.length < 3) return null;
    const channels = arr.shape.length === 3 ? 1 : arr.dtype === 'uint8' ? arr.shape[3]! : arr.shape[1]!;
    const size = arr.dtype === 'uint8' ? arr.shape[1]! : arr.shape[2]!;
    return { size, gray: channels === 1 };
  }
  const first = listImageFiles(spec).files[0];
  if (first === undefined) return null;
  const img = await decodeImage(first);
  let gray = true;
  for (let i = 0; gray && i < img.data.length; i += 3) gray = img.data[i] === img.data[i + 1] && img.data[i] === img.data[i + 2];
  return { size: Math.min(img.width, img.height), gray };
}

/**
 * The default network for an image set: the shipped digits network for 28×28 grayscale images,
 * Inception otherwise (FID's standard, for which the user supplies weights).
 * @param spec an image set as openImageSet takes.
 */
export async function defaultExtractorName(spec: string): Promise<FeatureNetworkName> {
  const p = await peek(spec);
  return p !== null && p.size === DIGITS_SIZE && p.gray ? 'digits' : 'inception';
}
