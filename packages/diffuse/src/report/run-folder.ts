// What a training output folder holds, read for plots, the dashboard and run comparison:
// config.json, hardware.json, log.jsonl (training rows and evaluation rows), previews/ and
// checkpoints/. Reading never writes and tolerates a run that is being written: a log line cut
// by a kill or still being appended is skipped.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

import { listCheckpoints } from '../train/checkpoint.js';

/** A run folder the user named that cannot be shown (missing, or with no log.jsonl). */
export class RunFolderError extends Error {
  override name = 'RunFolderError';
}

/** One logged row: the step and every numeric value logged with it. */
export interface SeriesRow {
  step: number;
  [key: string]: number;
}

/** The machine a run trained on (OUT/hardware.json, written when training starts). */
export interface Hardware {
  cpu: string;
  cores: number;
  threads: number;
  memoryGiB: number;
  platform: string;
  node: string;
  device: string;
  precision: string;
  startedAt: string;
}

export interface PreviewFile {
  step: number;
  /** Absolute path of the PNG. */
  file: string;
}

export interface CheckpointInfo {
  step: number;
  dir: string;
}

export interface RunData {
  /** The folder's base name: the run's name in titles and legends. */
  name: string;
  dir: string;
  /** config.json as written by `diffuse train` (a TrainConfig), or null when absent. */
  config: Record<string, unknown> | null;
  hardware: Hardware | null;
  /** Training rows in step order. */
  rows: SeriesRow[];
  /** Evaluation rows (FID, KID, precision, recall) in step order. */
  evals: SeriesRow[];
  previews: PreviewFile[];
  checkpoints: CheckpointInfo[];
  /** Steps the run aims for and its wall-clock budget in seconds (Infinity = none). */
  stepsGoal: number | null;
  budgetSeconds: number;
  /** Seconds left by the last logged rate, or null when unknown (no rows yet, or done). */
  etaSeconds: number | null;
  /** Time of the last change to log.jsonl (ms since the epoch). */
  updatedAt: number;
}

function readJson(file: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null; // absent, or cut by a kill: the dashboard shows what it can
  }
}

/**
 * Parses log.jsonl text into training and evaluation rows; numeric fields only.
 * @param text the file's contents.
 * @returns rows sorted by step, a step logged twice (an interrupted run) keeping its last row.
 */
export function parseLog(text: string): { rows: SeriesRow[]; evals: SeriesRow[] } {
  const rows = new Map<number, SeriesRow>();
  const evals = new Map<number, SeriesRow>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      continue; // a line cut by a kill, or still being written
    }
    if (raw === null || typeof raw !== 'object') continue;
    const o = raw as Record<string, unknown>;
    if (typeof o.step !== 'number') continue;
    const row: SeriesRow = { step: o.step };
    for (const [k, v] of Object.entries(o)) if (typeof v === 'number' && Number.isFinite(v)) row[k] = v;
    (o.eval === true ? evals : rows).set(o.step, row);
  }
  const byStep = (a: SeriesRow, b: SeriesRow): number => a.step - b.step;
  return { rows: [...rows.values()].sort(byStep), evals: [...evals.values()].sort(byStep) };
}

function previewsOf(dir: string): PreviewFile[] {
  const d = path.join(dir, 'previews');
  if (!existsSync(d)) return [];
  return readdirSync(d)
    .map((n) => ({ m: /^step-(\d+)\.png$/.exec(n), n }))
    .filter((x) => x.m !== null)
    .map((x) => ({ step: Number(x.m![1]), file: path.join(d, x.n) }))
    .sort((a, b) => a.step - b.step);
}

/**
 * Seconds left: the steps still to go at the rate of the last quarter of the run so far, capped
 * by the wall-clock budget.
 */
function eta(rows: SeriesRow[], stepsGoal: number | null, budget: number): number | null {
  const last = rows[rows.length - 1];
  if (last === undefined || stepsGoal === null || last.step >= stepsGoal || typeof last.elapsed !== 'number') return null;
  const ref = rows[Math.floor((rows.length * 3) / 4) - 1] ?? { step: 0, elapsed: 0 };
  const dStep = last.step - ref.step;
  const dT = last.elapsed - (ref.elapsed ?? 0);
  if (dStep <= 0 || dT <= 0) return null;
  const bySteps = ((stepsGoal - last.step) * dT) / dStep;
  return Math.max(0, Math.min(bySteps, budget - last.elapsed));
}

/**
 * Reads a training output folder.
 * @param dir the folder (`diffuse train --out`).
 * @throws RunFolderError when the folder is missing or holds no log.jsonl.
 */
export function readRunFolder(dir: string): RunData {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new RunFolderError(`${dir}: no such run folder`);
  const logFile = path.join(dir, 'log.jsonl');
  if (!existsSync(logFile)) throw new RunFolderError(`${dir}: no log.jsonl (not a 'diffuse train' output folder, or training has not logged yet)`);
  const { rows, evals } = parseLog(readFileSync(logFile, 'utf8'));
  const config = readJson(path.join(dir, 'config.json'));
  const run = (config?.run ?? {}) as { steps?: unknown; minutes?: unknown };
  const stepsGoal = typeof run.steps === 'number' ? run.steps : null;
  const budgetSeconds = typeof run.minutes === 'number' && run.minutes > 0 ? run.minutes * 60 : Infinity;
  const checkpoints = listCheckpoints(path.join(dir, 'checkpoints')).map((n) => ({ step: Number(n.slice('step-'.length)), dir: path.join(dir, 'checkpoints', n) }));
  return {
    name: path.basename(path.resolve(dir)),
    dir,
    config,
    hardware: readJson(path.join(dir, 'hardware.json')) as Hardware | null,
    rows,
    evals,
    previews: previewsOf(dir),
    checkpoints,
    stepsGoal,
    budgetSeconds,
    etaSeconds: eta(rows, stepsGoal, budgetSeconds),
    updatedAt: statSync(logFile).mtimeMs,
  };
}

/**
 * Gives runs that share a folder name (sweep/lr-1e-3/seed-0 and sweep/lr-1e-4/seed-0) names that
 * tell them apart in legends and tables: as many trailing path parts as it takes.
 * @param runs the runs, in order.
 * @returns the same runs, renamed where needed.
 */
export function withDistinctNames(runs: RunData[]): RunData[] {
  const parts = runs.map((r) => path.resolve(r.dir).split(path.sep).filter((p) => p !== ''));
  for (let depth = 1; ; depth++) {
    const names = parts.map((p) => p.slice(-depth).join('/'));
    const longest = Math.max(...parts.map((p) => p.length));
    if (new Set(names).size === names.length || depth >= longest) return runs.map((r, i) => ({ ...r, name: names[i]! }));
  }
}
