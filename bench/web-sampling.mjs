#!/usr/bin/env node
// The figures of docs/export.md (not a test): sampling the shipped digits-cpu model in the exported
// page in Debian's headless Chromium (ONNX Runtime Web, wasm with 1 and 2 threads) against
// `diffuse sample` in Node (libtorch, fp32 and the default bf16 on AMX/AVX512-BF16 CPUs), DDIM-20
// and DDIM-50 at batch 16; the model file sizes; and the page's screenshot (docs/export-page.png).
//
//   flock /tmp/bench.lock node bench/web-sampling.mjs [REPEATS=3]
//   node bench/web-sampling.mjs shot      (only the screenshot)
//
// Prints markdown tables; each figure is the median of REPEATS runs (the page: sampling only, the
// model already loaded; the CLI: its own "N images in S s" figure, model load excluded).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import puppeteer from 'puppeteer-core';
import { serveSite } from '../packages/diffuse/dist/src/export/site-server.js';

const SHOT_ONLY = process.argv[2] === 'shot';
const REPEATS = SHOT_ONLY ? 1 : Number(process.argv[2] ?? 3);
const BIN = fileURLToPath(new URL('../packages/diffuse/bin/diffuse.js', import.meta.url));
const DOCS = fileURLToPath(new URL('../docs/', import.meta.url));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => loadavg()[0].toFixed(2);

const root = mkdtempSync(path.join(tmpdir(), 'diffuse-web-bench-'));
const site = path.join(root, 'site');
execFileSync('node', [BIN, 'export', '--format', 'web', '--checkpoint', 'digits-cpu', '--out', site], { stdio: 'inherit' });
console.log(`\nCPU: ${cpus()[0].model}, ${cpus().length} cores; load average at start ${load()}\n`);

const rows = [];
// Node: diffuse sample (the CLI process; its own timing excludes loading).
for (const steps of SHOT_ONLY ? [] : [20, 50]) {
  for (const precision of ['fp32', 'bf16']) {
    const ms = [];
    for (let r = 0; r < REPEATS; r++) {
      const out = execFileSync('node', [BIN, 'sample', '--checkpoint', 'digits-cpu', '--n', '16', '--batch-size', '16', '--sampler', 'ddim', '--steps', String(steps), '--precision', precision, '--threads', '2', '--out', path.join(root, 'cli')], { encoding: 'utf8' });
      ms.push(Number(/images in ([\d.]+) s/.exec(out)[1]) * 1000);
    }
    rows.push({ where: `Node, diffuse sample (libtorch ${precision}, 2 threads)`, steps, ms: median(ms), load: load() });
  }
}

// Chromium: the page, wasm with 1 and 2 threads.
const server = await serveSite(site, { port: 0 });
const browser = await puppeteer.launch({
  executablePath: '/usr/bin/chromium', headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${path.join(root, 'profile')}`],
});
try {
  for (const threads of SHOT_ONLY ? [2] : [1, 2]) {
    for (const steps of SHOT_ONLY ? [20] : [20, 50]) {
      const ms = [];
      for (let r = 0; r < REPEATS; r++) {
        const page = await browser.newPage();
        await page.setViewport({ width: 1000, height: 760 });
        await page.goto(`${server.url}?sampler=ddim&steps=${steps}&seed=0&batch=16&ep=wasm&threads=${threads}&run=1`);
        await page.waitForFunction('window.diffuseResult !== undefined || window.diffuseError !== undefined', { timeout: 600_000 });
        const err = await page.evaluate('window.diffuseError');
        if (err) throw new Error(err);
        const res = await page.evaluate('window.diffuseResult');
        ms.push(res.ms);
        if (threads === 2 && steps === 20 && r === 0) await page.screenshot({ path: path.join(DOCS, 'export-page.png') });
        await page.close();
      }
      rows.push({ where: `Chromium, exported page (ONNX Runtime Web wasm, ${threads} thread${threads > 1 ? 's' : ''})`, steps, ms: median(ms), load: load() });
    }
  }
} finally {
  await browser.close();
  await server.close();
}

console.log('| where | DDIM steps | batch 16, s | s / step | load avg |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.where} | ${r.steps} | ${(r.ms / 1000).toFixed(2)} | ${(r.ms / 1000 / r.steps).toFixed(3)} | ${r.load} |`);
const size = (f) => (statSync(path.join(site, f)).size / 1e6).toFixed(2);
console.log(`\nfiles: model.onnx ${size('model.onnx')} MB; ort/ort-wasm-simd-threaded.jsep.wasm ${size('ort/ort-wasm-simd-threaded.jsep.wasm')} MB; ort/ort.min.mjs ${size('ort/ort.min.mjs')} MB; sampler.js ${size('sampler.js')} MB; page.js ${size('page.js')} MB`);
console.log(`checkpoint model.safetensors ${(statSync(fileURLToPath(new URL('../packages/diffuse/models/digits-cpu/model.safetensors', import.meta.url))).size / 1e6).toFixed(2)} MB`);
rmSync(root, { recursive: true, force: true });
