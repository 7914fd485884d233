// The JSON the dashboard draws: one entry per run, logged series as columns (what uPlot takes),
// previews as image sources, and the config keys on which compared runs differ.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import type { RunData, SeriesRow } from './run-folder.js';
import { thin } from './smooth.js';

/** Columns of a table of rows: `step` and one array per logged key (null where a row lacks it). */
export type Columns = Record<string, (number | null)[]>;

export interface RunView {
  name: string;
  dir: string;
  config: Record<string, unknown> | null;
  hardware: Record<string, unknown> | null;
  series: Columns;
  evals: Columns;
  previews: { step: number; src: string }[];
  checkpoints: { step: number; dir: string }[];
  stepsGoal: number | null;
  /** Wall-clock budget in seconds; null = none. */
  budgetSeconds: number | null;
  etaSeconds: number | null;
  updatedAt: number;
}

export interface ReportData {
  generatedAt: string;
  /** True when served by `diffuse board`: the page then follows /events and reloads /data.json. */
  live: boolean;
  runs: RunView[];
  /** Config keys (dotted paths) whose values differ between the runs, with each run's value. */
  configDiff: { key: string; values: unknown[] }[];
}

export interface ReportDataOptions {
  live?: boolean;
  /**
   * How previews are referenced: 'embed' puts the PNGs into the page as data: URIs (a file that
   * opens from disk), 'url' links them as /run/I/previews/FILE (the board server).
   */
  images?: 'embed' | 'url';
  /** At most this many previews per run in an embedding page (evenly spaced, the last kept). */
  maxEmbeddedPreviews?: number;
}

/** Rows per run beyond which the page thins a series (uPlot draws 20,000 points with ease). */
const MAX_ROWS = 20_000;

/**
 * Turns rows into columns over the union of their keys.
 * @param rows rows in step order.
 */
export function toColumns(rows: readonly SeriesRow[]): Columns {
  const keys = new Set<string>(['step']);
  for (const r of rows) for (const k of Object.keys(r)) keys.add(k);
  const cols: Columns = {};
  for (const k of keys) cols[k] = rows.map((r) => (typeof r[k] === 'number' ? r[k]! : null));
  return cols;
}

/** Flattens a config to dotted paths: { optim: { lr: 1 } } → { 'optim.lr': 1 }. */
export function flattenConfig(config: Record<string, unknown> | null, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config ?? {})) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, flattenConfig(v as Record<string, unknown>, `${prefix}${k}.`));
    else out[`${prefix}${k}`] = v;
  }
  return out;
}

/**
 * The config keys on which runs differ.
 * @param configs each run's config (null where it has none).
 * @returns the differing keys in sorted order, with each run's value (undefined → null).
 */
export function configDifferences(configs: readonly (Record<string, unknown> | null)[]): { key: string; values: unknown[] }[] {
  if (configs.length < 2) return [];
  const flat = configs.map((c) => flattenConfig(c));
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  return keys
    .map((key) => ({ key, values: flat.map((f) => f[key] ?? null) }))
    .filter(({ values }) => values.some((v) => JSON.stringify(v) !== JSON.stringify(values[0])));
}

function pngDataUri(file: string): string | null {
  try {
    return `data:image/png;base64,${readFileSync(file).toString('base64')}`;
  } catch {
    return null; // removed between the listing and the read
  }
}

/**
 * Builds the dashboard's data from run folders.
 * @param runs the runs, as read by readRunFolder.
 * @param options live mode and how previews are referenced.
 */
export function buildReportData(runs: readonly RunData[], options: ReportDataOptions = {}): ReportData {
  const images = options.images ?? 'embed';
  const views = runs.map((run, i): RunView => {
    const previews =
      images === 'embed'
        ? thin(run.previews, options.maxEmbeddedPreviews ?? 48)
            .map((p) => ({ step: p.step, src: pngDataUri(p.file) }))
            .filter((p): p is { step: number; src: string } => p.src !== null)
        : run.previews.map((p) => ({ step: p.step, src: `run/${i}/previews/${path.basename(p.file)}` }));
    return {
      name: run.name,
      dir: run.dir,
      config: run.config,
      hardware: run.hardware as Record<string, unknown> | null,
      series: toColumns(thin(run.rows, MAX_ROWS)),
      evals: toColumns(run.evals),
      previews,
      checkpoints: run.checkpoints,
      stepsGoal: run.stepsGoal,
      budgetSeconds: Number.isFinite(run.budgetSeconds) ? run.budgetSeconds : null,
      etaSeconds: run.etaSeconds,
      updatedAt: run.updatedAt,
    };
  });
  return { generatedAt: new Date().toISOString(), live: options.live ?? false, runs: views, configDiff: configDifferences(runs.map((r) => r.config)) };
}
