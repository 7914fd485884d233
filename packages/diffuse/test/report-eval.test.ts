// `diffuse nll --report` and `diffuse fid --report`: the bar chart (PNG and SVG) and the HTML page
// carry the terms and the numbers of the result they were given.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import sharp from 'sharp';

import type { Evaluation } from '../src/eval/evaluate.js';
import type { NllResult } from '../src/eval/nll.js';
import { writeFidReport, writeNllReport } from '../src/report/eval-report.js';
import { tempDir } from './board-fixtures.js';

test('nll report: one bar per term of the bound, L_T first and L_0 last, with the values', async () => {
  const r: NllResult = { n: 8, T: 1000, bpd: 1.5, bpdStderr: 0.01, prior: 0.001, decoder: 0.9, vbQuartiles: [0.4, 0.1, 0.06, 0.039], xstartMse: 0.02, mse: 0.1, perImage: [] };
  const dir = path.join(tempDir('nll-report'), 'report');
  const files = await writeNllReport(dir, r, { data: 'mnist:test', checkpoint: 'runs/x/checkpoints/step-0000100', step: 100 });
  assert.deepEqual(files.map((f) => path.basename(f)), ['nll.png', 'nll.svg', 'nll.html']);
  const svg = readFileSync(path.join(dir, 'nll.svg'), 'utf8');
  const texts = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);
  const terms = ['prior L_T', 'Σ L_t, t ∈ [750, 1000)', 'Σ L_t, t ∈ [500, 750)', 'Σ L_t, t ∈ [250, 500)', 'Σ L_t, t ∈ [1, 250)', 'decoder L_0'];
  assert.deepEqual(texts.filter((t) => terms.includes(t)), terms, 'the terms in the order of the reverse process');
  for (const v of ['0.4000', '0.9000', '0.0010']) assert.ok(texts.includes(v), `bar value ${v}`);
  assert.ok(texts.some((t) => t.startsWith('NLL 1.5000 ± 0.0100 bits/dim')));
  const html = readFileSync(path.join(dir, 'nll.html'), 'utf8');
  assert.match(html, /<svg/);
  assert.match(html, /<th>decoder L_0<\/th><td>0\.9000<\/td>/);
  const meta = await sharp(path.join(dir, 'nll.png')).metadata();
  assert.equal(meta.format, 'png');
});

test('fid report: FID and KID in the title, precision, recall and the confident shares as bars', async () => {
  const r: Evaluation = {
    a: { spec: 'samples.npz', n: 100 }, b: { spec: 'mnist:test', n: 2000, cached: true, cacheFile: null },
    features: { name: 'digits', id: 'digits-v1', dim: 64 }, fid: 12.345, kid: { mean: 0.01234, std: 0.001, subsetSize: 100, subsets: 10 },
    inceptionScore: null, precision: 0.75, recall: 0.5, k: 3, confident: { a: 0.8125, b: 0.99, threshold: 0.9 }, seconds: 1,
  };
  const dir = tempDir('fid-report');
  await writeFidReport(dir, r);
  const svg = readFileSync(path.join(dir, 'fid.svg'), 'utf8');
  assert.match(svg, />FID 12\.345 · KID 0\.01234 ± 0\.00100</);
  assert.match(svg, />0\.7500</);
  assert.match(svg, />recall \(B inside A\)</);
  assert.match(svg, />0\.8125</); // the confident share of A, a bar beside precision and recall
  assert.match(readFileSync(path.join(dir, 'fid.html'), 'utf8'), /<th>FID<\/th><td>12\.345<\/td>/);
});
