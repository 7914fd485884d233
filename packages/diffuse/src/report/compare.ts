// `diffuse compare`: one metric of several runs side by side: its last value, its best value and
// the step of the best, and the config keys on which the runs differ.
import { configDifferences } from './report-data.js';
import type { RunData, SeriesRow } from './run-folder.js';

/** Metrics where higher is better; every other one (loss, FID, KID, …) is better lower. */
const HIGHER_IS_BETTER = new Set(['precision', 'recall', 'imgPerSec', 'inceptionScore']);

export interface MetricSummary {
  run: string;
  dir: string;
  /** The run's last logged step. */
  step: number | null;
  /** How many rows carry the metric. */
  count: number;
  last: number | null;
  lastStep: number | null;
  best: number | null;
  bestStep: number | null;
  /** Mean over the last tenth of the rows (what a noisy training loss has settled to). */
  tailMean: number | null;
}

export interface Comparison {
  metric: string;
  higherIsBetter: boolean;
  runs: MetricSummary[];
  /** Keys on which the runs differ; values in the order the runs were given (`names`). */
  configDiff: { key: string; values: unknown[] }[];
  names: string[];
}

/** The numeric keys logged by a run (training and evaluation rows). */
export function metricsOf(run: RunData): string[] {
  const keys = new Set<string>();
  for (const r of [...run.rows, ...run.evals]) for (const k of Object.keys(r)) if (k !== 'step') keys.add(k);
  return [...keys].sort();
}

function summarize(run: RunData, metric: string, higher: boolean): MetricSummary {
  const source: SeriesRow[] = run.evals.some((r) => typeof r[metric] === 'number') ? run.evals : run.rows;
  const rows = source.filter((r) => typeof r[metric] === 'number');
  let best: SeriesRow | undefined;
  for (const r of rows) if (best === undefined || (higher ? r[metric]! > best[metric]! : r[metric]! < best[metric]!)) best = r;
  const tail = rows.slice(Math.floor(rows.length * 0.9));
  const lastRow = rows[rows.length - 1];
  return {
    run: run.name,
    dir: run.dir,
    step: run.rows[run.rows.length - 1]?.step ?? null,
    count: rows.length,
    last: lastRow?.[metric] ?? null,
    lastStep: lastRow?.step ?? null,
    best: best?.[metric] ?? null,
    bestStep: best?.step ?? null,
    tailMean: tail.length > 0 ? tail.reduce((s, r) => s + r[metric]!, 0) / tail.length : null,
  };
}

/**
 * Compares runs on one metric.
 * @param runs the run folders' contents.
 * @param metric a key of log.jsonl (e.g. 'loss', 'fid', 'kid', 'grad_norm').
 * @returns per run its summary, sorted best first (runs without the metric last).
 */
export function compareRuns(runs: readonly RunData[], metric: string): Comparison {
  const higherIsBetter = HIGHER_IS_BETTER.has(metric);
  const sorted = runs
    .map((r) => summarize(r, metric, higherIsBetter))
    .sort((a, b) => (a.best === null ? 1 : b.best === null ? -1 : higherIsBetter ? b.best - a.best : a.best - b.best));
  return { metric, higherIsBetter, runs: sorted, configDiff: configDifferences(runs.map((r) => r.config)), names: runs.map((r) => r.name) };
}
