// The files of a static sampling page for a model: index.html, the page script and the samplers'
// bundle (the CLI's own TypeScript, bundled by esbuild with '@diffuse/torch' mapped to the
// array-backed web/array-torch.ts), model.onnx and model.json, and ONNX Runtime Web's ES module
// and wasm (the build with the WebGPU backend, which runs the wasm one too).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { buildSync } from 'esbuild';

import type { UNet } from '../models/unet.js';
import type { TrainConfig } from '../train/config.js';
import type { WebModelInfo } from '../web/sampler.js';
import { onnxMetadata } from './metadata.js';
import { unetToOnnx } from './unet-onnx.js';

/** ONNX Runtime Web's files the page loads (under ort/): the module and its wasm with WebGPU. */
const ORT_FILES = ['ort.min.mjs', 'ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm'];

const WEB_DIR = fileURLToPath(new URL('../web/', import.meta.url));

/**
 * Bundles one of the compiled web modules for the browser.
 * @param entry 'sampler.js' or 'page.js' (in dist/src/web).
 * @param external imports left to the page (the import map resolves them).
 */
function bundle(entry: string, external: string[]): Uint8Array {
  const r = buildSync({
    entryPoints: [path.join(WEB_DIR, entry)],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    minify: false,
    write: false,
    external,
    alias: { '@diffuse/torch': path.join(WEB_DIR, 'array-torch.js') },
    // The samplers' modules also hold code the page never runs (training losses, classifier
    // guidance, stochastic noise) that names engine ops the shim lacks; the page-sampling test
    // runs every path the page takes.
    logOverride: { 'import-is-undefined': 'silent' },
    logLevel: 'error',
  });
  return r.outputFiles[0]!.contents;
}

function indexHtml(info: WebModelInfo, title: string): string {
  const conditional = info.numClasses > 0;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} — diffuse</title>
<script type="importmap">{ "imports": { "onnxruntime-web": "./ort/ort.min.mjs" } }</script>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 60em; padding: 0 1em; color: #222; }
  fieldset { border: 1px solid #ccc; border-radius: 6px; margin-bottom: 1em; }
  label { margin-right: 1.2em; white-space: nowrap; }
  input[type=number] { width: 6em; }
  canvas { image-rendering: pixelated; width: 100%; border: 1px solid #ddd; background: #000; }
  .pair { display: flex; gap: 1em; flex-wrap: wrap; }
  .pair figure { margin: 0; flex: 1 1 18em; max-width: 26em; }
  progress { width: 20em; }
  #backend, #status { color: #555; }
</style>
</head>
<body>
<h1>${title}</h1>
<p>Sampling in your browser with ONNX Runtime Web: <span id="backend">…</span>. ${info.imageSize}×${info.imageSize}, ${info.channels === 1 ? 'grayscale' : 'RGB'}, ${info.diffusion.noiseSchedule} schedule, T = ${info.diffusion.diffusionSteps}, predicts ${info.diffusion.meanType}.</p>
<fieldset>
  <label>sampler <select id="sampler"></select></label>
  <label>steps <input id="steps" type="range" min="2" max="100" value="20"> <span id="steps-value">20</span></label>
  <label>seed <input id="seed" type="number" min="0" value="0"></label>
  <label>batch <input id="batch" type="number" min="1" max="64" value="16"></label>
  <span id="conditional"${conditional ? '' : ' hidden'}>
    <label>class <select id="class"></select></label>
    <label>guidance <input id="guidance" type="number" min="0" step="0.5" value="1"></label>
  </span>
  <button id="go">Sample</button>
</fieldset>
<p><progress id="progress" value="0" max="1"></progress> <span id="status">loading…</span></p>
<div class="pair">
  <figure><canvas id="xt"></canvas><figcaption>x<sub>t</sub> as the denoising runs</figcaption></figure>
  <figure><canvas id="x0"></canvas><figcaption>predicted x<sub>0</sub> (the result after the last step)</figcaption></figure>
</div>
<p><a id="download" hidden>Download the grid (PNG)</a></p>
<p><small>Made with <code>diffuse export --format web</code>; the same seed gives the same images as <code>diffuse sample --from-noise</code> on this page's noise.</small></p>
<script type="module" src="./page.js"></script>
</body>
</html>
`;
}

/** The page's description of a model. */
export function webModelInfo(model: UNet, config: TrainConfig): WebModelInfo {
  const c = model.config;
  return {
    diffusion: config.diffusion,
    imageSize: config.model.imageSize,
    channels: c.inChannels,
    numClasses: c.numClasses ?? 0,
    nullClass: c.numClasses !== null && c.nullClass ? c.numClasses : null,
    outChannels: model.outputChannels,
  };
}

/**
 * Every file of the sampling page of a model, by relative path.
 * @param model the UNet (its current weights).
 * @param config the run's config (diffusion and image size).
 * @param title the page's title.
 * @returns path → contents.
 */
export function buildWebSite(model: UNet, config: TrainConfig, title = 'diffuse sampler'): Map<string, Uint8Array> {
  const info = webModelInfo(model, config);
  const files = new Map<string, Uint8Array>();
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);
  files.set('index.html', text(indexHtml(info, title)));
  files.set('sampler.js', bundle('sampler.js', []));
  files.set('page.js', bundle('page.js', ['onnxruntime-web', './sampler.js']));
  files.set('model.json', text(JSON.stringify(info, null, 1)));
  files.set('model.onnx', unetToOnnx(model, { metadata: onnxMetadata(config, model.config) }));
  const ortDir = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm'));
  for (const f of ORT_FILES) files.set(`ort/${f}`, new Uint8Array(readFileSync(path.join(ortDir, f))));
  return files;
}
