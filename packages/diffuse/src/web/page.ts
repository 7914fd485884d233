/// <reference lib="dom" />
// The sampling page of `diffuse export --format web`: loads model.onnx into ONNX Runtime Web
// (WebGPU when the browser has it, else wasm — multithreaded when the page is cross-origin
// isolated, as `diffuse serve` makes it), samples with the CLI's samplers (sampler.ts), shows
// x_t and x̂_0 as the denoising runs, and saves the grid as PNG.
// URL parameters preset the form and can start a run: ?sampler=ddim&steps=20&seed=0&batch=16
// &class=3&guidance=2&ep=wasm|webgpu&threads=N&run=1 (the browser test and the benchmark use them).
import * as ort from 'onnxruntime-web';

import { gridRgba, sampleInPage, seededNoise, WEB_SAMPLERS, type WebModelInfo, type WebSamplerName } from './sampler.js';

/** What a finished run leaves on window for tests and benchmarks. */
export interface PageResult {
  /** x̂_0 (B, C, H, W) floats. */
  x0: number[];
  /** Sampling time (model load excluded), ms. */
  ms: number;
  backend: string;
  seed: number;
  steps: number;
  sampler: string;
  batch: number;
}

declare global {
  interface Window {
    diffuseResult?: PageResult;
    diffuseError?: string;
  }
}

function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`page: no #${id}`);
  return el;
}
function input(id: string): HTMLInputElement {
  return $(id) as HTMLInputElement;
}

function draw(canvas: HTMLCanvasElement, x: Float32Array, info: WebModelInfo, batch: number): void {
  const nrow = Math.ceil(Math.sqrt(batch));
  const g = gridRgba(x, batch, info.channels, info.imageSize, nrow);
  canvas.width = g.width;
  canvas.height = g.height;
  canvas.getContext('2d')!.putImageData(new ImageData(g.data, g.width, g.height), 0, 0);
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const info = (await (await fetch('model.json')).json()) as WebModelInfo;
  const threads = Number(params.get('threads') ?? (crossOriginIsolated ? Math.min(navigator.hardwareConcurrency || 1, 4) : 1));
  ort.env.wasm.numThreads = crossOriginIsolated ? threads : 1;
  const gpu = 'gpu' in navigator && params.get('ep') !== 'wasm';
  const providers = gpu ? ['webgpu', 'wasm'] : ['wasm'];
  const status = $('status');
  status.textContent = 'loading the model…';
  const session = await ort.InferenceSession.create('model.onnx', { executionProviders: providers, graphOptimizationLevel: 'all' });
  const backend = gpu ? 'WebGPU (wasm fallback)' : `wasm, ${ort.env.wasm.numThreads} thread${ort.env.wasm.numThreads === 1 ? '' : 's'}${crossOriginIsolated ? '' : ' (page not cross-origin isolated: no threads)'}`;
  $('backend').textContent = backend;

  // The form: sampler, steps, seed, batch; class and guidance for class-conditional models.
  const samplerSel = $('sampler') as HTMLSelectElement;
  for (const s of WEB_SAMPLERS) samplerSel.add(new Option(s === 'ddim' ? 'DDIM (η = 0)' : 'DPM-Solver++(2M)', s));
  samplerSel.value = params.get('sampler') ?? 'ddim';
  const steps = input('steps');
  steps.value = params.get('steps') ?? '20';
  const showSteps = (): void => void ($('steps-value').textContent = steps.value);
  steps.addEventListener('input', showSteps);
  showSteps();
  input('seed').value = params.get('seed') ?? '0';
  input('batch').value = params.get('batch') ?? '16';
  const classSel = $('class') as HTMLSelectElement;
  if (info.numClasses > 0) {
    $('conditional').hidden = false;
    classSel.add(new Option('all classes, in turn', ''));
    for (let k = 0; k < info.numClasses; k++) classSel.add(new Option(String(k), String(k)));
    classSel.value = params.get('class') ?? '';
    input('guidance').value = params.get('guidance') ?? '1';
  }
  const xtCanvas = $('xt') as HTMLCanvasElement;
  const x0Canvas = $('x0') as HTMLCanvasElement;
  const progress = $('progress') as HTMLProgressElement;
  const button = $('go') as HTMLButtonElement;
  const download = $('download') as HTMLAnchorElement;

  const net = async (x: Float32Array, shape: number[], t: Float32Array, y: BigInt64Array | null): Promise<Float32Array> => {
    const feeds: Record<string, ort.Tensor> = { x: new ort.Tensor('float32', x, shape), t: new ort.Tensor('float32', t, [shape[0]!]) };
    if (y !== null) feeds['y'] = new ort.Tensor('int64', y, [shape[0]!]);
    const out = await session.run(feeds);
    return out['out']!.data as Float32Array;
  };

  const run = async (): Promise<void> => {
    button.disabled = true;
    download.hidden = true;
    try {
      const batch = Math.max(1, Math.min(64, Math.trunc(Number(input('batch').value)) || 1));
      const seed = Math.trunc(Number(input('seed').value)) >>> 0;
      const sampler = samplerSel.value as WebSamplerName;
      const nSteps = Number(steps.value);
      const noise = seededNoise(seed, batch * info.channels * info.imageSize * info.imageSize);
      const classes = info.numClasses > 0 && classSel.value !== '' ? [Number(classSel.value)] : undefined;
      const guidance = info.numClasses > 0 ? Number(input('guidance').value) : 1;
      const t0 = performance.now();
      const x0 = await sampleInPage(info, net, {
        sampler, steps: nSteps, noise, batch, classes, guidance,
        onStep: async (step, total, x, pred) => {
          progress.max = total;
          progress.value = step;
          status.textContent = `step ${step}/${total} — ${((performance.now() - t0) / 1000).toFixed(1)} s`;
          draw(xtCanvas, x, info, batch);
          draw(x0Canvas, pred, info, batch);
          await new Promise((r) => requestAnimationFrame(() => r(undefined))); // let the browser paint
        },
      });
      const ms = performance.now() - t0;
      draw(x0Canvas, x0, info, batch);
      status.textContent = `${batch} images, ${sampler} ${nSteps} steps, seed ${seed}: ${(ms / 1000).toFixed(2)} s (${backend})`;
      download.href = x0Canvas.toDataURL('image/png');
      download.download = `diffuse-${sampler}-${nSteps}-seed${seed}.png`;
      download.hidden = false;
      window.diffuseResult = { x0: Array.from(x0), ms, backend, seed, steps: nSteps, sampler, batch };
    } catch (e) {
      status.textContent = `error: ${(e as Error).message}`;
      window.diffuseError = (e as Error).message;
    } finally {
      button.disabled = false;
    }
  };
  button.addEventListener('click', () => void run());
  status.textContent = `ready: ${info.imageSize}×${info.imageSize}×${info.channels}, ${info.diffusion.noiseSchedule} schedule, T = ${info.diffusion.diffusionSteps}`;
  if (params.get('run') === '1') await run();
}

main().catch((e: unknown) => {
  window.diffuseError = (e as Error).message;
  const status = document.getElementById('status');
  if (status !== null) status.textContent = `error: ${(e as Error).message}`;
});
