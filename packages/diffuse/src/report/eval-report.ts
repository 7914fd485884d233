// Small reports for `diffuse nll --report DIR` and `diffuse fid --report DIR`: a bar chart as PNG
// and SVG (Vega-Lite, as loss.png) and an HTML page with the chart, a table of the numbers and
// the whole result as JSON, each file written atomically.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { TopLevelSpec } from 'vega-lite';

import type { Evaluation } from '../eval/evaluate.js';
import type { NllResult } from '../eval/nll.js';
import { writeFileAtomic } from '../io/atomic.js';
import { renderChart } from './render-chart.js';
import { escapeHtml } from './report-html.js';

interface Bar {
  term: string;
  value: number;
}

function barSpec(title: string, subtitle: string, bars: Bar[], axisTitle: string, domain?: [number, number]): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, subtitle, anchor: 'start', fontSize: 15 },
    background: 'white',
    padding: 12,
    width: 480,
    data: { values: bars },
    encoding: {
      y: { field: 'term', type: 'nominal', sort: null, title: null, axis: { labelLimit: 240 } },
      x: { field: 'value', type: 'quantitative', title: axisTitle, ...(domain ? { scale: { domain } } : {}) },
    },
    layer: [
      { mark: { type: 'bar', color: '#1f4e9c' } },
      { mark: { type: 'text', align: 'left', dx: 4, fontSize: 11 }, encoding: { text: { field: 'value', type: 'quantitative', format: '.4f' } } },
    ],
  } as TopLevelSpec;
}

/** The bars of an NLL breakdown, in the order of the reverse process: L_T first, L_0 last. */
export function nllBars(r: NllResult): Bar[] {
  const q = (i: number): string => `Σ L_t, t ∈ [${Math.max(1, Math.ceil((i * r.T) / 4))}, ${Math.ceil(((i + 1) * r.T) / 4)})`;
  return [{ term: 'prior L_T', value: r.prior }, ...[3, 2, 1, 0].map((i) => ({ term: q(i), value: r.vbQuartiles[i]! })), { term: 'decoder L_0', value: r.decoder }];
}

function page(title: string, svg: string, rows: [string, string][], json: unknown): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font:14px/1.4 'DejaVu Sans',system-ui,sans-serif;margin:20px;color:#222}table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ddd;padding:3px 10px;text-align:left}td:last-child{font-variant-numeric:tabular-nums}svg{max-width:100%;height:auto}pre{background:#f5f6f8;padding:10px;overflow:auto;font-size:12px}</style>
</head><body>
<h1 style="font-size:18px">${escapeHtml(title)}</h1>
${svg.replace(/^<\?xml[^>]*>/, '')}
<table><tbody>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</tbody></table>
<details><summary>result as JSON</summary><pre>${escapeHtml(JSON.stringify(json, null, 2))}</pre></details>
</body></html>
`;
}

async function writeReport(dir: string, name: string, spec: TopLevelSpec, title: string, rows: [string, string][], json: unknown): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const { svg, png } = await renderChart(spec);
  const files = [path.join(dir, `${name}.png`), path.join(dir, `${name}.svg`), path.join(dir, `${name}.html`)];
  await writeFileAtomic(files[0]!, png);
  await writeFileAtomic(files[1]!, svg);
  await writeFileAtomic(files[2]!, page(title, svg, rows, json));
  return files;
}

/**
 * Writes DIR/nll.png, nll.svg and nll.html: the bits/dim of each term of the variational bound.
 * @param dir the report folder (made if missing).
 * @param r the result of calcNll.
 * @param what the data and checkpoint, for the title.
 * @returns the files written.
 */
export function writeNllReport(dir: string, r: NllResult, what: { data: string; checkpoint: string; step: number }): Promise<string[]> {
  const bars = nllBars(r);
  const title = `NLL ${r.bpd.toFixed(4)} ± ${r.bpdStderr.toFixed(4)} bits/dim`;
  const subtitle = `${what.checkpoint} (step ${what.step}) on ${r.n} images of ${what.data}, T = ${r.T}`;
  const rows: [string, string][] = [...bars.map((b): [string, string] => [b.term, b.value.toFixed(4)]), ['total (bits/dim)', r.bpd.toFixed(4)], ['mse(ε)', r.mse.toExponential(3)], ['mse(x_0)', r.xstartMse.toExponential(3)]];
  const json = { ...what, ...r, perImage: undefined };
  return writeReport(dir, 'nll', barSpec(title, subtitle, bars, 'bits/dim (terms add up to the total)'), `${title} — ${subtitle}`, rows, json);
}

/**
 * Writes DIR/fid.png, fid.svg and fid.html: precision and recall as bars, FID and KID in the
 * title and the table.
 * @param dir the report folder (made if missing).
 * @param r the result of evaluateImageSets.
 * @returns the files written.
 */
export function writeFidReport(dir: string, r: Evaluation): Promise<string[]> {
  const title = `FID ${r.fid.toFixed(3)} · KID ${r.kid.mean.toFixed(5)} ± ${r.kid.std.toFixed(5)}`;
  const subtitle = `${r.a.spec} (${r.a.n} images) against ${r.b.spec} (${r.b.n}), ${r.features.name} features`;
  const bars: Bar[] = [
    { term: 'precision (A inside B)', value: r.precision },
    { term: 'recall (B inside A)', value: r.recall },
    ...(r.confident ? [{ term: `confident A (p > ${r.confident.threshold})`, value: r.confident.a }, { term: `confident B (p > ${r.confident.threshold})`, value: r.confident.b }] : []),
  ];
  const rows: [string, string][] = [
    ['FID', r.fid.toFixed(3)],
    ['KID', `${r.kid.mean.toFixed(5)} ± ${r.kid.std.toFixed(5)} (${r.kid.subsets} subsets of ${r.kid.subsetSize})`],
    ...(r.inceptionScore ? [['Inception Score (A / B)', `${r.inceptionScore.a.mean.toFixed(3)} / ${r.inceptionScore.b.mean.toFixed(3)}`] as [string, string]] : []),
    ['precision', r.precision.toFixed(4)],
    ['recall', `${r.recall.toFixed(4)} (k = ${r.k})`],
    ...(r.confident ? [['confident share (A / B)', `${r.confident.a.toFixed(4)} / ${r.confident.b.toFixed(4)} (top class probability > ${r.confident.threshold})`] as [string, string]] : []),
    ['features', `${r.features.name} (${r.features.dim}-d, ${r.features.id})`],
    ['A', `${r.a.spec} (${r.a.n} images)`],
    ['B', `${r.b.spec} (${r.b.n} images)`],
  ];
  return writeReport(dir, 'fid', barSpec(title, subtitle, bars, 'fraction (1 = best)', [0, 1]), `${title} — ${subtitle}`, rows, r);
}
