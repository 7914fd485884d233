// LoRA fine-tuning on the ordinary training loop: the run's config is the base's model and
// diffusion with a fine-tune's optimizer and run settings, and the model is prepared by loading
// the base weights and wrapping the chosen layers; the loop then trains, averages and saves only
// the adapter. After the run the adapter alone is written as OUT/lora.safetensors.
import { statSync } from 'node:fs';
import path from 'node:path';

import * as torch from '@diffuse/torch';
import { nn, type Tensor } from '@diffuse/torch';

import type { UNet } from '../models/index.js';
import type { Pipeline } from '../pipeline/load.js';
import { CheckpointError, loadCheckpoint } from '../train/checkpoint.js';
import { validateConfig, type LoraRunConfig, type TrainConfig } from '../train/config.js';
import { loadFrozenBase } from './base.js';
import { LORA_FILE, saveLoraFile } from './lora-file.js';
import { exactPaths, resolveLoraTargets } from './targets.js';

/** The adapter's name inside a fine-tuned model. */
const ADAPTER = 'default';

export interface LoraBase {
  /** The base model loaded for sampling (its weights are the fine-tune's starting point). */
  pipe: Pipeline;
  lora: LoraRunConfig;
  /** Targets that selected nothing in this model (e.g. 'attn' without attention blocks). */
  emptyTargets: string[];
}

/**
 * Loads a base checkpoint and resolves what a LoRA on it wraps.
 * @param base a training output folder, a checkpoint directory, or a shipped model's name.
 * @param o rank r, α (default r), dropout, targets; ema: the base's EMA rate (default its first).
 * @throws CheckpointError for a missing or broken base; RangeError for targets that select nothing.
 */
export function loadLoraBase(base: string, o: { rank: number; alpha?: number; dropout?: number; targets: string[]; ema?: number | 'none' }): LoraBase {
  const frozen = loadFrozenBase(base, o.ema);
  const { paths, empty } = resolveLoraTargets(frozen.pipe.model, o.targets);
  return {
    pipe: frozen.pipe,
    emptyTargets: empty,
    lora: {
      base: frozen.base,
      baseHash: frozen.baseHash,
      baseEma: frozen.baseEma,
      rank: o.rank,
      alpha: o.alpha ?? o.rank,
      dropout: o.dropout ?? 0,
      targets: o.targets,
      paths,
    },
  };
}

/**
 * The run config of a fine-tune: the base's model and diffusion (the adapter must fit them), the
 * given optimizer and run settings.
 * @param baseConfig the base checkpoint's config.
 * @param lora what the adapter wraps and on which base.
 * @param optim the fine-tune's optimizer settings.
 * @param run the fine-tune's run settings.
 */
export function finetuneConfig(baseConfig: TrainConfig, lora: LoraRunConfig, optim: TrainConfig['optim'], run: TrainConfig['run']): TrainConfig {
  const cfg: TrainConfig = { model: structuredClone(baseConfig.model), diffusion: structuredClone(baseConfig.diffusion), optim, run, lora };
  validateConfig(cfg);
  return cfg;
}

/**
 * The trainer's prepareModel for a fine-tune: the base weights in, the adapter on (B = 0, so
 * the model starts exactly as the base), everything else frozen.
 * @param baseWeights the base model's state dict.
 * @param lora the rank, α, dropout and layers.
 */
export function loraPreparer(baseWeights: Map<string, Tensor>, lora: LoraRunConfig): (model: UNet) => void {
  return (model) => {
    model.loadStateDict(baseWeights);
    nn.injectLora(model, { targets: exactPaths(lora.paths), rank: lora.rank, alpha: lora.alpha, dropout: lora.dropout, name: ADAPTER });
  };
}

/** Model parameter name → file key: 'p.lora_A.default.weight' → 'p.lora_A.weight'. */
function fileKey(name: string): string {
  return name.replace(`.lora_A.${ADAPTER}.`, '.lora_A.').replace(`.lora_B.${ADAPTER}.`, '.lora_B.');
}

/**
 * Writes OUT/lora.safetensors from a fine-tune checkpoint: the adapter's EMA weights at the first
 * rate (what sampling would use of a whole model), or its raw weights without EMA.
 * @param checkpointDir the checkpoint (step directory).
 * @param out the fine-tune's output folder.
 * @returns the file written and its size in bytes.
 */
export function exportLora(checkpointDir: string, out: string): { file: string; bytes: number; params: number } {
  const ck = loadCheckpoint(checkpointDir, { weightsOnly: true });
  const lora = ck.state.config.lora;
  try {
    if (lora === undefined) throw new CheckpointError(`${ck.dir}: not a LoRA fine-tune checkpoint`);
    const rate = ck.state.emaRates[0] ?? null;
    const src = rate === null ? ck.model : ck.ema.get(rate)!;
    const tensors = Object.fromEntries(Object.entries(src).map(([k, t]) => [fileKey(k), t]));
    const file = path.join(out, LORA_FILE);
    saveLoraFile(file, tensors, { ...lora, step: ck.state.step, emaRate: rate });
    const params = Object.values(tensors).reduce((n, t) => n + t.numel(), 0);
    return { file, bytes: statSync(file).size, params };
  } finally {
    torch.dispose(ck.model);
    for (const sd of ck.ema.values()) torch.dispose(sd);
  }
}
