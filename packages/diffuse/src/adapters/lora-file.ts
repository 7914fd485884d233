// A LoRA on disk: only the adapter's A and B as safetensors (PEFT's key names,
// `path.lora_A.weight`), with what it needs to be applied safely in the metadata: rank, α, the
// wrapped layers, and a hash of the base model's weights, so a LoRA is never applied to another base.
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';

import * as torch from '@diffuse/torch';
import type { nn, Tensor } from '@diffuse/torch';

import { CheckpointError } from '../train/checkpoint.js';

/** The file name a fine-tune writes into its output folder. */
export const LORA_FILE = 'lora.safetensors';
const FORMAT = 'diffuse-lora';
const VERSION = 1;

export interface LoraFileMeta {
  rank: number;
  alpha: number;
  dropout: number;
  /** The targets as the user gave them ('attn', 'res', patterns). */
  targets: string[];
  /** The wrapped layers' module paths. */
  paths: string[];
  /** baseModelHash of the weights the adapter was trained on. */
  baseHash: string;
  /** The base checkpoint as named at fine-tuning (for messages only). */
  base: string;
  /** Fine-tuning steps done. */
  step: number;
  /** The EMA rate of the saved weights, or null for the raw ones. */
  emaRate: number | null;
}

export interface LoraFile {
  file: string;
  meta: LoraFileMeta;
  /** A and B by `path.lora_A.weight` / `path.lora_B.weight`. */
  tensors: Record<string, Tensor>;
}

/**
 * A hash of a model's weights (names, dtypes, shapes and bytes of its state dict, adapters
 * excluded): the same base checkpoint loaded the same way gives the same hash on any machine.
 * @returns 16 hex digits of SHA-256.
 */
export function baseModelHash(model: nn.Module): string {
  const h = createHash('sha256');
  const entries = [...model.stateDict()].filter(([k]) => !/\.lora_[AB]\./.test(k)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [name, t] of entries) {
    h.update(`${name}\0${t.dtype}\0${t.shape.join(',')}\0`);
    const data = t.data();
    h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return h.digest('hex').slice(0, 16);
}

/**
 * Writes an adapter file (atomically).
 * @param file destination.
 * @param lora the adapter's tensors by PEFT name (Lora.stateDict(), or EMA copies with those names).
 * @param meta what the file records.
 */
export function saveLoraFile(file: string, tensors: Record<string, Tensor>, meta: LoraFileMeta): void {
  const metadata: Record<string, string> = {
    format: FORMAT,
    version: String(VERSION),
    rank: String(meta.rank),
    alpha: String(meta.alpha),
    dropout: String(meta.dropout),
    targets: meta.targets.join(','),
    paths: JSON.stringify(meta.paths),
    base_hash: meta.baseHash,
    base: meta.base,
    step: String(meta.step),
    ema_rate: meta.emaRate === null ? 'none' : String(meta.emaRate),
  };
  torch.saveSafetensors(file, tensors, metadata);
}

/** The adapter file a user means: the file itself, or a fine-tune's output folder. */
export function resolveLoraFile(p: string): string {
  if (!existsSync(p)) throw new CheckpointError(`${p}: no such LoRA (give a fine-tune's output folder or its ${LORA_FILE})`);
  if (statSync(p).isDirectory()) {
    const f = path.join(p, LORA_FILE);
    if (!existsSync(f)) throw new CheckpointError(`${p}: no ${LORA_FILE} here (is it the --out of 'diffuse finetune'?)`);
    return f;
  }
  return p;
}

/**
 * Reads an adapter file and checks its metadata.
 * @param p the file, or a fine-tune's output folder.
 * @throws CheckpointError (one line) for a missing, damaged or foreign file.
 */
export function readLoraFile(p: string): LoraFile {
  const file = resolveLoraFile(p);
  let loaded: ReturnType<typeof torch.loadSafetensors>;
  try {
    loaded = torch.loadSafetensors(file);
  } catch (e) {
    throw new CheckpointError(`${file}: ${(e as Error).message.split('\n')[0]!.replace(`${file}: `, '')}; not a readable LoRA file`);
  }
  const m = loaded.metadata ?? {};
  const fail = (why: string): never => {
    torch.dispose(loaded.tensors);
    throw new CheckpointError(`${file}: ${why}`);
  };
  if (m.format !== FORMAT) fail(`not a diffuse LoRA (its metadata has no format '${FORMAT}'; write one with 'diffuse finetune')`);
  if (Number(m.version) > VERSION) fail(`written by a newer diffuse (LoRA format ${m.version}); upgrade diffuse to read it`);
  let paths: unknown;
  try {
    paths = JSON.parse(m.paths ?? '');
  } catch {
    paths = undefined;
  }
  const rank = Number(m.rank);
  const alpha = Number(m.alpha);
  if (!Array.isArray(paths) || paths.some((x) => typeof x !== 'string') || !(rank >= 1) || !(alpha > 0) || typeof m.base_hash !== 'string') {
    fail('its LoRA metadata is damaged (rank, alpha, paths or base hash)');
  }
  const meta: LoraFileMeta = {
    rank,
    alpha,
    dropout: Number(m.dropout ?? 0),
    targets: (m.targets ?? '').split(',').filter((s) => s !== ''),
    paths: paths as string[],
    baseHash: m.base_hash!,
    base: m.base ?? '?',
    step: Number(m.step ?? 0),
    emaRate: m.ema_rate === undefined || m.ema_rate === 'none' ? null : Number(m.ema_rate),
  };
  return { file, meta, tensors: loaded.tensors };
}
