// The frozen base model an adapter (LoRA, ControlNet) is trained on: loaded as sampling loads it,
// recorded by name or absolute path, and identified by a hash of its weights.
import path from 'node:path';

import { loadPipeline, resolveModelPath, SHIPPED_MODELS_DIR, type Pipeline } from '../pipeline/load.js';
import { CheckpointError } from '../train/checkpoint.js';
import { baseModelHash } from './lora-file.js';

export interface FrozenBase {
  /** The base loaded for sampling (float32). */
  pipe: Pipeline;
  /** A shipped model's name, or the checkpoint's absolute path. */
  base: string;
  baseHash: string;
  /** The EMA rate whose weights were loaded, or null for the raw weights. */
  baseEma: number | null;
}

/**
 * Loads a base checkpoint for training an adapter on it.
 * @param base a training output folder, a checkpoint directory, or a shipped model's name.
 * @param ema the base's EMA rate (default its first), or 'none'.
 * @throws CheckpointError for a missing or broken base.
 */
export function loadFrozenBase(base: string, ema?: number | 'none'): FrozenBase {
  const pipe = loadPipeline(base, { ema, precision: 'fp32' });
  const resolved = resolveModelPath(base);
  // A shipped model is recorded by name (it moves with the package); anything else by absolute path.
  const shipped = path.resolve(resolved) === path.join(SHIPPED_MODELS_DIR, base);
  return { pipe, base: shipped ? base : path.resolve(resolved), baseHash: baseModelHash(pipe.model), baseEma: pipe.emaRate };
}

/**
 * Reloads the base of a run being resumed and checks its weights are still the same.
 * @throws CheckpointError when the base changed since the run began.
 */
export function reloadFrozenBase(o: { base: string; baseHash: string; baseEma: number | null }): Pipeline {
  const pipe = loadPipeline(o.base, { ema: o.baseEma ?? 'none', precision: 'fp32' });
  const hash = baseModelHash(pipe.model);
  if (hash !== o.baseHash) {
    throw new CheckpointError(`${o.base}: the base model's weights changed since this run began (${o.baseHash}, now ${hash}); start a new one`);
  }
  return pipe;
}
