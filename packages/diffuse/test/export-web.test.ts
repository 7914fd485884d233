// The exported sampling page against `diffuse sample`: the page's bundled code (sampler.js, the
// CLI's samplers over ONNX Runtime) run in Node, and the whole page in Debian's headless Chromium
// (/usr/bin/chromium through puppeteer-core; skipped with the reason where it is not installed),
// must give the images `diffuse sample --from-noise` gives on the page's noise for the same seed.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

import * as ort from 'onnxruntime-web';
import puppeteer from 'puppeteer-core';

import { serveSite } from '../src/export/site-server.js';
import { readNpz, writeNpz } from '../src/io/npz.js';
import type { WebModelInfo, WebSampleOptions } from '../src/web/sampler.js';
import { assertUserError, diffuse } from './cli-helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * The page's pixels may differ from the CLI's by one level where a value sits on a rounding edge:
 * ONNX Runtime's and libtorch's float32 network outputs differ by ~1e-6 relative (export-onnx.test).
 * Measured: no pixel differs at all on these runs.
 */
const MAX_LEVELS = 1;

/** The bundled sampler module of a site (what the page imports). */
interface SamplerModule {
  sampleInPage(info: WebModelInfo, net: (x: Float32Array, shape: number[], t: Float32Array, y: BigInt64Array | null) => Promise<Float32Array>, o: WebSampleOptions): Promise<Float32Array>;
  seededNoise(seed: number, n: number): Float32Array;
}

/** `diffuse sample --from-noise` on the given start noise: uint8 (N, H, W, C). */
async function cliSample(dir: string, noise: Float32Array, shape: number[], sampler: string, steps: number, checkpoint = 'digits-cpu', extra: string[] = []): Promise<Uint8Array> {
  const noiseFile = path.join(dir, `noise-${sampler}.npz`);
  await writeNpz(noiseFile, { arr_0: { dtype: 'float32', shape, data: noise } });
  const out = path.join(dir, `cli-${sampler}`);
  const r = diffuse('sample', '--checkpoint', checkpoint, '--from-noise', noiseFile, '--sampler', sampler, '--steps', String(steps), '--precision', 'fp32', '--out', out, ...extra);
  assert.equal(r.code, 0, r.stderr);
  return (await readNpz(path.join(out, 'samples.npz'))).get('arr_0')!.data as Uint8Array;
}

/** The page's floats as `diffuse sample` writes pixels; returns the largest difference in levels. */
function maxLevelDiff(x0: ArrayLike<number>, ref: Uint8Array): number {
  assert.equal(x0.length, ref.length);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const v = Math.trunc(Math.min(255, Math.max(0, (x0[i]! + 1) * 127.5)));
    worst = Math.max(worst, Math.abs(v - ref[i]!));
  }
  return worst;
}

let root = '';
let site = '';

test.before(() => {
  root = mkdtempSync(path.join(tmpdir(), 'diffuse-web-'));
  site = path.join(root, 'site');
  const r = diffuse('export', '--format', 'web', '--checkpoint', 'digits-cpu', '--out', site);
  assert.equal(r.code, 0, r.stderr);
});
test.after(() => rmSync(root, { recursive: true, force: true }));

test('diffuse export --format web: the site has its files; the ONNX model and model.json describe the checkpoint; bad --out is one line', () => {
  for (const f of ['index.html', 'page.js', 'sampler.js', 'model.onnx', 'model.json', 'ort/ort.min.mjs', 'ort/ort-wasm-simd-threaded.jsep.wasm']) assert.ok(existsSync(path.join(site, f)), f);
  const info = JSON.parse(readFileSync(path.join(site, 'model.json'), 'utf8')) as WebModelInfo;
  const state = JSON.parse(readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), '../../models/digits-cpu/state.json'), 'utf8')) as { config: { diffusion: unknown } };
  assert.deepEqual(info.diffusion, state.config.diffusion);
  assert.equal(info.imageSize, 28);
  // The page script imports the bundle and ONNX Runtime only (no engine, no Node modules).
  const page = readFileSync(path.join(site, 'page.js'), 'utf8');
  assert.match(page, /from "\.\/sampler\.js"/);
  assert.doesNotMatch(readFileSync(path.join(site, 'sampler.js'), 'utf8'), /require\(|from "node:|@diffuse\/torch/);
  const notSite = path.join(root, 'not-a-site');
  diffuse('export', '--format', 'onnx', '--checkpoint', 'digits-cpu', '--out', path.join(root, 'm.onnx'));
  assertUserError(diffuse('export', '--format', 'web', '--checkpoint', 'digits-cpu', '--out', path.join(root, 'm.onnx')), /not an earlier exported site/);
  assertUserError(diffuse('serve', notSite, '--port', '0'), /no index\.html/);
});

test('the page\'s bundled sampling code in Node (ONNX Runtime wasm) equals `diffuse sample --from-noise` on the same seed, DDIM and DPM-Solver++(2M)', async () => {
  ort.env.wasm.numThreads = 1;
  const S = (await import(pathToFileURL(path.join(site, 'sampler.js')).href)) as SamplerModule;
  const info = JSON.parse(readFileSync(path.join(site, 'model.json'), 'utf8')) as WebModelInfo;
  const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(path.join(site, 'model.onnx'))));
  const net = async (x: Float32Array, shape: number[], t: Float32Array): Promise<Float32Array> =>
    (await session.run({ x: new ort.Tensor('float32', x, shape), t: new ort.Tensor('float32', t, [shape[0]!]) }))['out']!.data as Float32Array;
  const batch = 3;
  const shape = [batch, 1, 28, 28];
  const noise = S.seededNoise(11, batch * 784);
  for (const [sampler, steps] of [['ddim', 10], ['dpmpp-2m', 8]] as const) {
    let seen = 0;
    const x0 = await S.sampleInPage(info, net, { sampler, steps, noise, batch, onStep: (step, total) => void (seen = step === total ? total : seen) });
    assert.equal(seen, steps, 'progress reached the last step');
    const worst = maxLevelDiff(x0, await cliSample(root, noise, shape, sampler, steps));
    console.log(`# ${sampler}-${steps}, Node bundle vs diffuse sample: max ${worst} levels`);
    assert.ok(worst <= MAX_LEVELS, `${sampler}: ${worst} levels apart`);
  }
  await session.release();
});

test('the page in headless Chromium (served cross-origin isolated, wasm with 2 threads) equals `diffuse sample --from-noise` for a fixed seed', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} is not installed (apt-get install -y chromium; .ci/run installs it)`);
    return;
  }
  const server = await serveSite(site, { port: 0 });
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: [...FLAGS, `--user-data-dir=${path.join(root, 'profile')}`], timeout: 30_000 });
  try {
    const page = await browser.newPage();
    const seed = 4;
    const batch = 4;
    await page.goto(`${server.url}?sampler=ddim&steps=10&seed=${seed}&batch=${batch}&ep=wasm&threads=2&run=1`);
    await page.waitForFunction('window.diffuseResult !== undefined || window.diffuseError !== undefined', { timeout: 120_000 });
    const err = await page.evaluate('window.diffuseError');
    assert.equal(err, undefined, String(err));
    const isolated = await page.evaluate('crossOriginIsolated');
    assert.equal(isolated, true, 'diffuse serve makes the page cross-origin isolated');
    const r = (await page.evaluate('window.diffuseResult')) as { x0: number[]; backend: string; ms: number };
    console.log(`# Chromium: ${r.backend}, DDIM-10 batch ${batch} in ${r.ms.toFixed(0)} ms`);
    assert.match(r.backend, /wasm, 2 threads/);
    const S = (await import(pathToFileURL(path.join(site, 'sampler.js')).href)) as SamplerModule;
    const noise = S.seededNoise(seed, batch * 784);
    const worst = maxLevelDiff(r.x0, await cliSample(root, noise, [batch, 1, 28, 28], 'ddim', 10));
    console.log(`# Chromium page vs diffuse sample: max ${worst} levels`);
    assert.ok(worst <= MAX_LEVELS, `${worst} levels apart`);
    // The grid was drawn and offered as a PNG.
    const href = (await page.evaluate('document.getElementById("download").href')) as string;
    assert.match(href, /^data:image\/png;base64,/);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('class-conditional model with learned variance: the page\'s code with a class and guidance 3 equals `diffuse sample --class --guidance`, and guidance changes the images', async () => {
  // A tiny class-conditional model (null class, learned range variance, attention), a few steps
  // at a high learning rate so that its label embedding and output layers are far from their init.
  const run = path.join(root, 'cc');
  const r = diffuse('train', '--data', 'mnist', '--out', run, '--steps', '3', '--lr', '0.02', '--image-size', '8', '--channel-mult', '1,2', '--model-channels', '32', '--num-res-blocks', '1', '--attention-ds', '2', '--class-cond', '--num-classes', '10', '--class-dropout', '0.1', '--var-type', 'learned_range', '--loss', 'rescaled_mse', '--batch-size', '4', '--ema-rates', '0.5');
  assert.equal(r.code, 0, r.stderr);
  const ccSite = path.join(root, 'cc-site');
  const e = diffuse('export', '--format', 'web', '--checkpoint', run, '--out', ccSite);
  assert.equal(e.code, 0, e.stderr);
  const info = JSON.parse(readFileSync(path.join(ccSite, 'model.json'), 'utf8')) as WebModelInfo;
  assert.deepEqual([info.numClasses, info.nullClass, info.outChannels], [10, 10, 2]);
  ort.env.wasm.numThreads = 1;
  const S = (await import(pathToFileURL(path.join(ccSite, 'sampler.js')).href)) as SamplerModule;
  const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(path.join(ccSite, 'model.onnx'))));
  const net = async (x: Float32Array, shape: number[], t: Float32Array, y: BigInt64Array | null): Promise<Float32Array> =>
    (await session.run({ x: new ort.Tensor('float32', x, shape), t: new ort.Tensor('float32', t, [shape[0]!]), y: new ort.Tensor('int64', y!, [shape[0]!]) }))['out']!.data as Float32Array;
  const batch = 4;
  const noise = S.seededNoise(2, batch * 64);
  const guided = await S.sampleInPage(info, net, { sampler: 'ddim', steps: 6, noise, batch, classes: [3], guidance: 3 });
  const plain = await S.sampleInPage(info, net, { sampler: 'ddim', steps: 6, noise, batch, classes: [3], guidance: 1 });
  const worst = maxLevelDiff(guided, await cliSample(root, noise, [batch, 1, 8, 8], 'ddim', 6, run, ['--class', '3', '--guidance', '3']));
  console.log(`# class 3, guidance 3: Node bundle vs diffuse sample: max ${worst} levels`);
  assert.ok(worst <= MAX_LEVELS, `${worst} levels apart`);
  // Not a saturated picture (where any error would hide behind the clamp).
  const midtones = Array.from(guided).filter((v) => Math.abs(v) < 0.95).length;
  assert.ok(midtones > guided.length / 10, `only ${midtones} of ${guided.length} values are off the clamp`);
  let moved = 0;
  for (let i = 0; i < guided.length; i++) moved = Math.max(moved, Math.abs(guided[i]! - plain[i]!));
  assert.ok(moved > 0.01, `guidance 3 changes the images (max change ${moved})`);
  await session.release();
});
