// Reference features and statistics, computed once per (image set, feature network) and kept in
// a cache folder as safetensors, so `diffuse fid samples.npz mnist` pays for mnist only once.
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import type { FeatureSet } from './compute-features.js';
import { featureStatistics, type FeatureStatistics } from './linalg.js';

/** Features with their Gaussian fit. */
export type FeatureSetWithStats = FeatureSet & FeatureStatistics;

/**
 * The cache folder: $DIFFUSE_CACHE_DIR, else $XDG_CACHE_HOME/diffuse, else ~/.cache/diffuse.
 */
export function cacheDir(): string {
  if (process.env.DIFFUSE_CACHE_DIR) return process.env.DIFFUSE_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'diffuse');
}

/** The file that holds one set's features under one network. */
export function cacheFile(extractorId: string, setIdentity: string, dir = cacheDir()): string {
  return path.join(dir, 'features', `${extractorId}-${setIdentity.slice(0, 24)}.safetensors`);
}

/** Adds μ and Σ to a feature set. */
export function featureSetWithStats(set: FeatureSet): FeatureSetWithStats {
  return { ...set, ...featureStatistics(set.features) };
}

function read(file: string): FeatureSetWithStats | null {
  try {
    const { tensors } = torch.loadSafetensors(file);
    const { features, logits = null, mu, sigma } = tensors as Record<string, Tensor | undefined>;
    if (!features || !mu || !sigma) {
      torch.dispose(tensors);
      return null;
    }
    return { features, logits, mu, sigma };
  } catch {
    return null; // unreadable (e.g. a half-written file from an older version): recompute
  }
}

/**
 * A set's features and statistics from the cache, or computed and stored there.
 * @param file the cache file (see cacheFile).
 * @param compute computes the features when the cache has none.
 * @param meta strings stored with the file (what set and network it is).
 * @returns the features, logits, μ and Σ (the caller disposes them), and whether they were cached.
 */
export async function cachedFeatures(file: string, compute: () => Promise<FeatureSet>, meta: Record<string, string>): Promise<FeatureSetWithStats & { cached: boolean }> {
  if (existsSync(file)) {
    const hit = read(file);
    if (hit) return { ...hit, cached: true };
  }
  const set = featureSetWithStats(await compute());
  mkdirSync(path.dirname(file), { recursive: true });
  const tensors: Record<string, Tensor> = { features: set.features, mu: set.mu, sigma: set.sigma };
  if (set.logits) tensors.logits = set.logits;
  torch.saveSafetensors(file, tensors, { ...meta, created: new Date().toISOString() }); // atomic: never half a file
  return { ...set, cached: false };
}
