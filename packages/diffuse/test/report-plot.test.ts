// loss.png through Vega-Lite → SVG → sharp: the text is really there (tick values in the SVG, dark
// glyph pixels where the tick labels go in the PNG), the log axis is chosen where it fits, and
// the smoothing keeps a constant series constant.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import sharp from 'sharp';
import type { TopLevelSpec } from 'vega-lite';

import { lossPlotSpec, renderLossPlot, wantsLogScale } from '../src/report/loss-plot.js';
import { renderChart } from '../src/report/render-chart.js';
import { autoSmoothWeight, smoothSeries, thin } from '../src/report/smooth.js';
import { syntheticRun } from './board-fixtures.js';

const NOW = new Date('2026-01-02T03:04:00Z');

/** The text of every <text> element of an SVG. */
function svgTexts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);
}

test('the loss plot SVG carries title, run name, axis titles, legend and tick values', async () => {
  const { svg } = await renderLossPlot(syntheticRun('run-a'), NOW);
  const texts = svgTexts(svg);
  for (const t of ['run-a: training', 'step', 'loss (log scale)', 'loss, smoothed', 't ∈ [0, 250)', 't ∈ [750, 1000)', 'FID', 'KID']) {
    assert.ok(texts.includes(t), `SVG has the text '${t}' (has: ${texts.slice(0, 40).join(' | ')})`);
  }
  assert.ok(texts.some((t) => t.includes('run run-a') && t.includes('step 1,000 of 1,000') && t.includes('2026-01-02 03:04 UTC')), 'subtitle: run, step, date');
  // Log-scale loss ticks (the loss runs from ~2 to ~0.05) and step ticks.
  for (const t of ['0.1', '1', '200', '600']) assert.ok(texts.includes(t), `tick value ${t}`);
});

test('the loss plot PNG has dark glyph pixels where the tick labels are (a font was found)', async () => {
  const spec = lossPlotSpec(syntheticRun(), NOW);
  const withLabels = await renderChart(spec);
  // The same chart with the tick labels switched off: the pixels that differ are the labels.
  const noLabels = await renderChart({ ...spec, config: { ...(spec.config ?? {}), axis: { ...(spec.config?.axis ?? {}), labelOpacity: 0 } } } as TopLevelSpec);
  const a = await sharp(withLabels.png).removeAlpha().greyscale().raw().toBuffer({ resolveWithObject: true });
  const b = await sharp(noLabels.png).removeAlpha().greyscale().raw().toBuffer({ resolveWithObject: true });
  assert.equal(a.info.width, b.info.width);
  assert.ok(a.info.width >= 1000 && a.info.height >= 600, `a readable size: ${a.info.width}×${a.info.height}`);
  let dark = 0;
  let differing = 0;
  for (let i = 0; i < a.data.length; i++) {
    if (a.data[i] !== b.data[i]) {
      differing++;
      if (a.data[i]! < 100) dark++;
    }
  }
  assert.ok(differing > 0, 'the tick labels change the picture');
  assert.ok(dark > 500, `dark pixels in the tick labels: ${dark} of ${differing} that differ (no font installed? apt-get install fonts-dejavu-core)`);
  // With no font at all librsvg still draws a box per character ("tofu"): dark pixels, but the
  // same box for every digit. Glyphs differ: the labels with every 1 turned into 7 must too.
  const swapped = await renderChart({ ...spec, config: { ...(spec.config ?? {}), axis: { ...(spec.config?.axis ?? {}), labelExpr: "replace(datum.label, regexp('1', 'g'), '7')" } } } as TopLevelSpec);
  const c = await sharp(swapped.png).removeAlpha().greyscale().raw().toBuffer({ resolveWithObject: true });
  let glyphs = 0;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== c.data[i]) glyphs++;
  assert.ok(glyphs > 100, `'1' and '7' drew the same pixels (${glyphs} differ): boxes, not glyphs — no usable font (apt-get install fonts-dejavu-core fontconfig-config)`);
});

test('log scale where the values span a decade, linear otherwise', () => {
  assert.equal(wantsLogScale([2, 1, 0.1]), true);
  assert.equal(wantsLogScale([1, 0.5, 0.2]), false);
  assert.equal(wantsLogScale([1, -1, 0.01]), false);
  assert.equal(wantsLogScale([]), false);
});

test('smoothing: debiased (a constant stays constant), log-space, and thinning keeps the last point', () => {
  const c = smoothSeries([3, 3, 3, 3], 0.9);
  for (const v of c) assert.ok(Math.abs(v - 3) < 1e-12, `constant stays: ${v}`);
  const l = smoothSeries([1, 100], 0.5, true);
  assert.ok(Math.abs(l[1]! - 10 ** (4 / 3)) < 1e-9, `log-space mean: ${l[1]}`);
  assert.deepEqual(smoothSeries([1, NaN, 1], 0.5).map(Number.isNaN), [false, true, false]);
  assert.ok(autoSmoothWeight(10) === 0.6 && autoSmoothWeight(100_000) === 0.99);
  assert.deepEqual(thin([1, 2, 3, 4, 5, 6, 7], 3), [1, 4, 7]);
  assert.deepEqual(thin([1, 2], 3), [1, 2]);
});
