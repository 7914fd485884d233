// OUT/loss.png: the training loss, its smoothed curve and its four timestep quartiles on one
// panel (log y when the values span a decade), FID/KID on a second panel once evaluated; the
// run's name, step and date in the title.
import type { TopLevelSpec } from 'vega-lite';

import { writeFileAtomic } from '../io/atomic.js';
import { renderChart, type RenderedChart } from './render-chart.js';
import type { RunData, SeriesRow } from './run-folder.js';
import { autoSmoothWeight, smoothSeries, thin } from './smooth.js';

/** Points per series in a PNG: more cannot be seen at 1,000 px and slows the rendering. */
const MAX_POINTS = 1500;

interface Point {
  step: number;
  value: number;
  series: string;
}

/**
 * Whether a log axis suits these values: all positive and spanning at least a factor of 10.
 * @param values the values on the axis.
 */
export function wantsLogScale(values: readonly number[]): boolean {
  const v = values.filter(Number.isFinite);
  if (v.length === 0 || v.some((x) => x <= 0)) return false;
  return Math.max(...v) / Math.min(...v) >= 10;
}

/** The label of timestep quartile q of T steps, e.g. 't ∈ [250, 500)'. */
export function quartileLabel(q: number, T: number | null): string {
  if (T === null) return `t quartile ${q + 1}`;
  return `t ∈ [${Math.ceil((q * T) / 4)}, ${Math.ceil(((q + 1) * T) / 4)})`;
}

function numSteps(run: RunData): number | null {
  const d = (run.config?.diffusion ?? {}) as { diffusionSteps?: unknown };
  return typeof d.diffusionSteps === 'number' ? d.diffusionSteps : null;
}

function series(rows: readonly SeriesRow[], key: string): { steps: number[]; values: number[] } {
  const steps: number[] = [];
  const values: number[] = [];
  for (const r of rows) {
    const v = r[key];
    if (typeof v === 'number' && Number.isFinite(v)) {
      steps.push(r.step);
      values.push(v);
    }
  }
  return { steps, values };
}

function points(steps: number[], values: number[], name: string): Point[] {
  return thin(
    steps.map((step, i) => ({ step, value: values[i]!, series: name })),
    MAX_POINTS,
  );
}

/**
 * The Vega-Lite spec of loss.png.
 * @param run the run folder's contents.
 * @param now the date in the title (a parameter so that tests can fix it).
 */
export function lossPlotSpec(run: RunData, now = new Date()): TopLevelSpec {
  const loss = series(run.rows, 'loss');
  const log = wantsLogScale(loss.values);
  const weight = autoSmoothWeight(loss.values.length);
  const T = numSteps(run);
  const names = ['loss', 'loss, smoothed', ...[0, 1, 2, 3].map((q) => quartileLabel(q, T))];
  const colors = ['#a9c4eb', '#1f4e9c', '#f2b134', '#e8772e', '#c4403a', '#7d2e68'];
  const data: Point[] = [...points(loss.steps, loss.values, names[0]!), ...points(loss.steps, smoothSeries(loss.values, weight, log), names[1]!)];
  for (let q = 0; q < 4; q++) {
    const s = series(run.rows, `loss_q${q}`);
    data.push(...points(s.steps, smoothSeries(s.values, weight, log), names[q + 2]!));
  }
  const last = run.rows[run.rows.length - 1];
  // Both panels span the same steps, so an evaluation lines up with the loss at its step.
  const lastStep = Math.max(last?.step ?? 1, run.evals[run.evals.length - 1]?.step ?? 1);
  const stepDomain = [0, lastStep];
  const lossPanel = {
    width: 640,
    height: 300,
    title: { text: 'training loss (timestep quartiles smoothed)', anchor: 'start', fontSize: 13 },
    data: { values: data },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step', scale: { domain: stepDomain, nice: true }, axis: { format: ',~r', tickCount: 8, labelOverlap: true } },
      y: {
        field: 'value',
        type: 'quantitative',
        title: log ? 'loss (log scale)' : 'loss',
        scale: log ? { type: 'log' } : { zero: false },
        axis: { format: log ? '~g' : '.3~g' },
      },
      color: { field: 'series', type: 'nominal', title: null, scale: { domain: names, range: colors }, legend: { orient: 'right', labelLimit: 260 } },
    },
    // Every series thin, then the smoothed loss again on top, thicker: the curve to read.
    layer: [
      { mark: { type: 'line', clip: true, strokeWidth: 1.4 } },
      { mark: { type: 'line', clip: true, strokeWidth: 2.6 }, transform: [{ filter: { field: 'series', equal: names[1]! } }] },
    ],
  };
  const panels: object[] = [lossPanel];
  const fid = series(run.evals, 'fid');
  const kid = series(run.evals, 'kid');
  if (fid.values.length > 0 || kid.values.length > 0) {
    const evalData = [...fid.steps.map((step, i) => ({ step, FID: fid.values[i]! })), ...kid.steps.map((step, i) => ({ step, KID: kid.values[i]! }))];
    const layer = (field: 'FID' | 'KID', color: string): object => ({
      mark: { type: 'line', point: true, color },
      transform: [{ filter: `isValid(datum.${field})` }],
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'step', scale: { domain: stepDomain, nice: true }, axis: { format: ',~r', tickCount: 8, labelOverlap: true } },
        y: { field, type: 'quantitative', title: field, axis: { titleColor: color, format: '.3~g' }, scale: { zero: false } },
        color: { datum: field, scale: { domain: ['FID', 'KID'], range: ['#e8772e', '#2e8b57'] }, legend: { orient: 'right', title: null } },
      },
    });
    panels.push({
      width: 640,
      height: 160,
      title: { text: 'sample quality (EMA model)', anchor: 'start', fontSize: 13 },
      data: { values: evalData },
      layer: [layer('FID', '#e8772e'), layer('KID', '#2e8b57')],
      resolve: { scale: { y: 'independent' } },
    });
  }
  const subtitle = [
    `run ${run.name}`,
    last !== undefined ? `step ${last.step.toLocaleString('en-US')}${run.stepsGoal !== null ? ` of ${run.stepsGoal.toLocaleString('en-US')}` : ''}` : 'no steps logged',
    now.toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
  ].join(' · ');
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: `${run.name}: training`, subtitle, anchor: 'start', fontSize: 16 },
    background: 'white',
    padding: 12,
    vconcat: panels,
    resolve: { scale: { color: 'independent' } },
    config: { axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#e6e6e6' }, legend: { labelFontSize: 11 }, view: { stroke: '#bbbbbb' } },
  } as TopLevelSpec;
}

/**
 * Renders loss.png for a run.
 * @param run the run folder's contents.
 * @returns the SVG and PNG.
 */
export function renderLossPlot(run: RunData, now = new Date()): Promise<RenderedChart> {
  return renderChart(lossPlotSpec(run, now));
}

/**
 * Writes OUT/loss.png atomically (a reader never sees half a PNG).
 * @param run the run folder's contents.
 * @param file where to write (OUT/loss.png).
 */
export async function writeLossPlot(run: RunData, file: string): Promise<void> {
  const { png } = await renderLossPlot(run);
  await writeFileAtomic(file, png);
}
