// Every sample-quality metric of one image set against a reference set, on one feature network:
// what `diffuse fid A B` runs.
import * as torch from '@diffuse/torch';

import { computeFeatures } from './compute-features.js';
import { CONFIDENT_THRESHOLD, confidentShare } from './confident.js';
import { cacheFile, cachedFeatures, featureSetWithStats, type FeatureSetWithStats } from './feature-cache.js';
import type { FeatureExtractor } from './features/extractor.js';
import { frechetDistance } from './frechet.js';
import { imageSetIdentity, openImageSet } from './image-sets.js';
import { inceptionScore, type InceptionScoreResult } from './inception-score.js';
import { kid, type KidOptions } from './kid.js';
import { precisionRecall } from './precision-recall.js';

export interface EvaluateOptions {
  /** Images per forward pass (default 50, as pytorch-fid). */
  batchSize?: number;
  /** KID's subsets, subset size and seed. */
  kid?: KidOptions;
  /** k of precision/recall (default 3). */
  k?: number;
  /** Inception Score splits (default 10). */
  splits?: number;
  /** Top-class probability above which an image counts as confidently classified (default 0.9). */
  confidentThreshold?: number;
  /** Cache the reference set's features (default true). */
  cache?: boolean;
  /** Cache folder (default cacheDir()). */
  cacheDir?: string;
  /** Progress of feature extraction: (which set, images done, total). */
  progress?: (set: 'A' | 'B', done: number, total: number) => void;
  /** Receives each warning (default: stderr). */
  onWarning?: (message: string) => void;
}

/** What `diffuse fid` reports. */
export interface Evaluation {
  a: { spec: string; n: number };
  b: { spec: string; n: number; cached: boolean; cacheFile: string | null };
  features: { name: string; id: string; dim: number };
  fid: number;
  kid: { mean: number; std: number; subsetSize: number; subsets: number };
  /** Inception Score of A and of B (null when the network has no logits). */
  inceptionScore: { a: InceptionScoreResult; b: InceptionScoreResult } | null;
  /** Improved precision (A inside B's manifold) and recall (B inside A's), k-NN balls. */
  precision: number;
  recall: number;
  k: number;
  /**
   * Share of A and of B that the network's classifier assigns to one class with probability
   * above the threshold (null when the network has no logits): malformed samples lower A's.
   */
  confident: { a: number; b: number; threshold: number } | null;
  seconds: number;
}

async function featuresOf(spec: string, extractor: FeatureExtractor, batchSize: number, progress?: (done: number, total: number) => void): Promise<FeatureSetWithStats> {
  const set = await openImageSet(spec, { size: extractor.inputSize, channels: extractor.channels });
  return featureSetWithStats(await computeFeatures(extractor, set, { batchSize, progress }));
}

/**
 * FID, KID, Inception Score, precision/recall and the confident-classifier share of image set A (e.g. samples) against B (the
 * reference, e.g. 'mnist').
 * @param a the evaluated set: 'mnist', 'mnist:train', 'mnist:test', an .npz, or an image folder.
 * @param b the reference set, same forms; its features are cached per network.
 * @param extractor the feature network (its input size and channels decide the image format).
 * @param options batch size, metric settings, caching, progress, warnings.
 */
export async function evaluateImageSets(a: string, b: string, extractor: FeatureExtractor, options: EvaluateOptions = {}): Promise<Evaluation> {
  const t0 = Date.now();
  const batchSize = options.batchSize ?? 50;
  const k = options.k ?? 3;
  const useCache = options.cache ?? true;
  const file = useCache ? cacheFile(extractor.id, imageSetIdentity(b), options.cacheDir) : null;
  const ref = file
    ? await cachedFeatures(file, () => featuresOf(b, extractor, batchSize, (d, t) => options.progress?.('B', d, t)), { set: b, features: extractor.id })
    : { ...(await featuresOf(b, extractor, batchSize, (d, t) => options.progress?.('B', d, t))), cached: false };
  let gen: FeatureSetWithStats | undefined;
  try {
    gen = await featuresOf(a, extractor, batchSize, (d, t) => options.progress?.('A', d, t));
    const g = gen;
    return torch.tidy(() => {
      const kidResult = kid(g.features, ref.features, options.kid);
      const pr = precisionRecall(ref.features, g.features, { k });
      const splits = options.splits ?? 10;
      const is = g.logits && ref.logits ? { a: inceptionScore(g.logits, { splits }), b: inceptionScore(ref.logits, { splits }) } : null;
      const threshold = options.confidentThreshold ?? CONFIDENT_THRESHOLD;
      const confident = g.logits && ref.logits ? { a: confidentShare(g.logits, threshold), b: confidentShare(ref.logits, threshold), threshold } : null;
      return {
        a: { spec: a, n: g.features.shape[0]! },
        b: { spec: b, n: ref.features.shape[0]!, cached: ref.cached, cacheFile: file },
        features: { name: extractor.name, id: extractor.id, dim: extractor.featureDim },
        fid: frechetDistance(g.mu, g.sigma, ref.mu, ref.sigma, { onWarning: options.onWarning }),
        kid: { mean: kidResult.mean, std: kidResult.std, subsetSize: kidResult.subsetSize, subsets: kidResult.values.length },
        inceptionScore: is,
        precision: pr.precision,
        recall: pr.recall,
        k,
        confident,
        seconds: (Date.now() - t0) / 1000,
      };
    });
  } finally {
    torch.dispose([ref.features, ref.logits, ref.mu, ref.sigma]);
    if (gen) torch.dispose([gen.features, gen.logits, gen.mu, gen.sigma]);
  }
}
