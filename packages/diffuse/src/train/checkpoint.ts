// Checkpoints: a directory per save, written under a temporary name and renamed, so a crash or
// kill at any moment leaves the previous checkpoint intact. Layout of OUT/checkpoints/step-N/:
//   model.safetensors            the model's state dict
//   ema-<rate>.safetensors       one per EMA rate
//   train-state.safetensors      optimizer tensors and RNG state (absent in a sampling-only export)
//   state.json                   step, full config, optimizer/sampler/data state (JSON)
// OUT/checkpoints/latest names the newest complete one.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { syncDirSync, writeFileAtomicSync } from '../io/atomic.js';
import { DiskFullError, isDiskFull } from '../io/errors.js';
import type { TrainConfig } from './config.js';

export const CHECKPOINT_FORMAT = 1;

/** A problem with a checkpoint the user pointed at: one line, exit code 2 from the CLI. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export interface TrainState {
  format: number;
  step: number;
  config: TrainConfig;
  /** Images seen so far. */
  examples: number;
  /** Optimizer meta (JSON part of its state dict), schedule sampler and data loader state. */
  optimizer?: unknown;
  scheduleSampler?: unknown;
  data?: unknown;
  emaRates: number[];
  /** Wall-clock seconds spent training (for --minutes across resumes). */
  seconds: number;
  createdAt: string;
}

export interface CheckpointContents {
  dir: string;
  state: TrainState;
  model: Record<string, Tensor>;
  ema: Map<number, Record<string, Tensor>>;
  /** Optimizer tensors and 'rng.*' generator states; empty for sampling-only exports. */
  trainTensors: Record<string, Tensor>;
}

export function stepDirName(step: number): string {
  return `step-${String(step).padStart(7, '0')}`;
}

export interface SaveOptions {
  /** How many complete checkpoints to keep (older ones are deleted); 0 keeps all. */
  keep?: number;
}

/**
 * Saves a checkpoint into root (OUT/checkpoints) atomically and updates `latest`.
 * @param root the checkpoints folder.
 * @param contents the state, weights, EMA weights and training tensors.
 * @param options how many checkpoints to keep.
 * @returns the directory of the new checkpoint.
 * @throws DiskFullError when the disk fills up; the earlier checkpoints and `latest` are untouched
 *   and no temporary file is left behind.
 */
export function saveCheckpoint(root: string, contents: Omit<CheckpointContents, 'dir'>, options: SaveOptions = {}): string {
  const name = stepDirName(contents.state.step);
  let final: string;
  try {
    mkdirSync(root, { recursive: true });
    final = writeCheckpointDir(root, name, contents);
    writeFileAtomicSync(path.join(root, 'latest'), `${name}\n`);
  } catch (e) {
    if (!isDiskFull(e)) throw e;
    const good = lastGoodCheckpoint(root);
    throw new DiskFullError(
      `${root}: the disk is full; checkpoint ${name} was not saved and ${good === null ? 'no earlier checkpoint exists' : `the last good checkpoint, ${good}, is intact`}. ` +
        'Free some space, then continue with --resume',
      e,
    );
  }
  if (options.keep !== undefined && options.keep > 0) pruneCheckpoints(root, options.keep);
  return final;
}

// Writes step-N under a temporary name and renames it into place; on any failure the temporary
// folder is removed (which also gives back the space a full disk needs) and nothing else changes.
function writeCheckpointDir(root: string, name: string, contents: Omit<CheckpointContents, 'dir'>): string {
  const final = path.join(root, name);
  const tmp = path.join(root, `.${name}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    mkdirSync(tmp);
    torch.saveSafetensors(path.join(tmp, 'model.safetensors'), contents.model);
    for (const [rate, sd] of contents.ema) torch.saveSafetensors(path.join(tmp, `ema-${rate}.safetensors`), sd);
    if (Object.keys(contents.trainTensors).length > 0) torch.saveSafetensors(path.join(tmp, 'train-state.safetensors'), contents.trainTensors);
    writeFileAtomicSync(path.join(tmp, 'state.json'), JSON.stringify(contents.state, null, 1));
    syncDirSync(tmp);
    // Replacing a same-step checkpoint (e.g. saved again at SIGINT): move the old one aside first.
    if (existsSync(final)) {
      const old = path.join(root, `.${name}.old-${process.pid}`);
      renameSync(final, old);
      renameSync(tmp, final);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, final);
    }
    syncDirSync(root);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return final;
}

/** The name of the checkpoint a resume would load from root (its `latest`), or null if none. */
function lastGoodCheckpoint(root: string): string | null {
  try {
    return path.basename(resolveCheckpointDir(root));
  } catch {
    return null;
  }
}

/** Complete checkpoints in root, oldest first. */
export function listCheckpoints(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((n) => /^step-\d+$/.test(n) && existsSync(path.join(root, n, 'state.json')))
    .sort();
}

function pruneCheckpoints(root: string, keep: number): void {
  const all = listCheckpoints(root);
  for (const n of all.slice(0, Math.max(0, all.length - keep))) rmSync(path.join(root, n), { recursive: true, force: true });
  // Leftovers of interrupted saves from earlier processes.
  for (const n of readdirSync(root)) {
    const pid = /^\.step-\d+\.(?:tmp|old)-(\d+)$/.exec(n)?.[1] ?? /^\.latest\.(\d+)\.[0-9a-f]+\.tmp$/.exec(n)?.[1];
    if (pid !== undefined && Number(pid) !== process.pid) rmSync(path.join(root, n), { recursive: true, force: true });
  }
}

/**
 * Finds the checkpoint directory a user means: a step directory itself, a checkpoints folder
 * (its `latest`), or a training output folder (its checkpoints/latest).
 */
export function resolveCheckpointDir(p: string): string {
  if (!existsSync(p)) throw new CheckpointError(`${p}: no such checkpoint (give a training output folder or a checkpoint directory)`);
  if (!statSync(p).isDirectory()) throw new CheckpointError(`${p}: a checkpoint is a directory (with state.json), not a file`);
  if (existsSync(path.join(p, 'state.json'))) return p;
  for (const root of [p, path.join(p, 'checkpoints')]) {
    const latest = path.join(root, 'latest');
    if (existsSync(latest)) {
      const name = readFileSync(latest, 'utf8').trim();
      const dir = path.join(root, name);
      if (existsSync(path.join(dir, 'state.json'))) return dir;
    }
    const all = listCheckpoints(root);
    if (all.length > 0) return path.join(root, all[all.length - 1]!);
  }
  throw new CheckpointError(`${p}: no checkpoint found here (expected state.json, or checkpoints/latest from 'diffuse train')`);
}

// What to do about a checkpoint file that is damaged (truncated, edited, or not from diffuse).
/** What to do when a checkpoint's weights do not fit the config in its state.json. */
export const MISMATCHED = "its state.json and weights come from different runs; use a checkpoint folder whole, as 'diffuse train' wrote it";

const DAMAGED = 'the checkpoint is damaged: copy it again, or use an earlier one from the same checkpoints/ folder';

function loadTensors(file: string): Record<string, Tensor> {
  try {
    return torch.loadSafetensors(file).tensors;
  } catch (e) {
    throw new CheckpointError(`${file}: ${(e as Error).message.replace(`${file}: `, '')}; ${DAMAGED}`);
  }
}

/** Reads only state.json (cheap: for `diffuse info` and config checks). */
export function readTrainState(dir: string): TrainState {
  const file = path.join(dir, 'state.json');
  let state: TrainState;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as TrainState;
  } catch (e) {
    throw new CheckpointError(`${file}: unreadable checkpoint state (${(e as Error).message.split('\n')[0]}); ${DAMAGED}`);
  }
  if (typeof state !== 'object' || state === null || typeof state.step !== 'number' || typeof state.config !== 'object') {
    throw new CheckpointError(`${file}: not a diffuse checkpoint state (missing step or config); ${DAMAGED}`);
  }
  if (state.format > CHECKPOINT_FORMAT) {
    throw new CheckpointError(`${file}: written by a newer diffuse (format ${state.format}); upgrade diffuse to read it`);
  }
  relocateAutoencoder(state.config as { autoencoder?: { path?: unknown } }, dir);
  return state;
}

/**
 * A latent model (or prior) records its autoencoder's absolute path. Moved together with that
 * autoencoder — a folder `autoencoder/` in its checkpoint directory or in its run folder, which
 * is how a shipped latent model travels — it finds the autoencoder there once the recorded path is
 * gone; a relative path (a shipped model's) is relative to the checkpoint directory. Only the path
 * changes: the recorded weights hash is still checked when it loads.
 */
function relocateAutoencoder(config: { autoencoder?: { path?: unknown } }, dir: string): void {
  const ref = config.autoencoder;
  if (typeof ref !== 'object' || ref === null || typeof ref.path !== 'string') return;
  const recorded = path.resolve(dir, ref.path); // an absolute path stays as it is
  const beside = [recorded, path.join(dir, 'autoencoder'), path.join(dir, '..', '..', 'autoencoder')].find((p) => existsSync(p));
  ref.path = beside ?? recorded;
}

export interface LoadOptions {
  /** Skip the optimizer/RNG tensors (sampling needs only weights). */
  weightsOnly?: boolean;
  /** Load only this EMA rate (null = none, undefined = all). */
  emaRate?: number | null;
}

/** Loads a checkpoint directory (see resolveCheckpointDir for accepted paths). */
export function loadCheckpoint(p: string, options: LoadOptions = {}): CheckpointContents {
  const dir = resolveCheckpointDir(p);
  const state = readTrainState(dir);
  const model = loadTensors(path.join(dir, 'model.safetensors'));
  const ema = new Map<number, Record<string, Tensor>>();
  const rates = options.emaRate === null ? [] : options.emaRate !== undefined ? [options.emaRate] : state.emaRates;
  for (const r of rates) {
    if (!state.emaRates.includes(r)) {
      throw new CheckpointError(`${dir}: no EMA at rate ${r}; this checkpoint has ${state.emaRates.length ? state.emaRates.join(', ') : 'none'} (use --ema none for the raw weights)`);
    }
    ema.set(r, loadTensors(path.join(dir, `ema-${r}.safetensors`)));
  }
  const trainFile = path.join(dir, 'train-state.safetensors');
  const trainTensors = !options.weightsOnly && existsSync(trainFile) ? loadTensors(trainFile) : {};
  return { dir, state, model, ema, trainTensors };
}
