// The web page's sampling: the CLI's own samplers (prepareSampler: DDIM, DPM-Solver++(2M)) and
// schedule (betasFor), with the network run by ONNX Runtime. Bundled for the page with
// '@diffuse/torch' mapped to the array-backed array-torch.ts.
//
// ONNX Runtime answers asynchronously, the samplers ask synchronously. A step is a pure function
// of (i, x) up to its model calls, and every state change comes after them (the multistep history
// is pushed last), so each step runs, stops at the first model call it has no answer for, gets the
// answer asynchronously, and runs again from the start with it.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import type { ModelFn, ModelKwargs, ModelMeanType, ModelVarType } from '../diffusion/enums.js';
import { alphasCumprodOf } from '../diffusion/schedules.js';
import type { Guidance } from '../guidance/index.js';
import type { DiffusionModelSpec } from '../samplers/denoiser.js';
import { prepareSampler } from '../samplers/index.js';
import { betasFor } from '../train/betas.js';
import type { DiffusionConfig } from '../train/config.js';

/** What the page knows of its model (model.json beside model.onnx; the same as the ONNX metadata). */
export interface WebModelInfo {
  diffusion: DiffusionConfig;
  imageSize: number;
  channels: number;
  /** 0 for unconditional models. */
  numClasses: number;
  /** The "no class" label for classifier-free guidance (numClasses), or null. */
  nullClass: number | null;
  /** Channels of the network's output (2·channels with a learned variance). */
  outChannels: number;
}

/** The network through ONNX Runtime: x (B, C, H, W), t (B,), y (B,) or null → out (B, outC, H, W). */
export type AsyncModel = (x: Float32Array, shape: number[], t: Float32Array, y: BigInt64Array | null) => Promise<Float32Array>;

/** The samplers the page offers (deterministic ones: the page's noise is only the start noise). */
export const WEB_SAMPLERS = ['ddim', 'dpmpp-2m'] as const;
export type WebSamplerName = (typeof WEB_SAMPLERS)[number];

export interface WebSampleOptions {
  sampler: WebSamplerName;
  steps: number;
  /** Start noise z (batch·C·H·W), e.g. seededNoise(). */
  noise: Float32Array;
  batch: number;
  /** Class labels, cycled over the batch (class-conditional models; default 0, 1, 2, …). */
  classes?: number[];
  /** Classifier-free guidance scale s (1 = none). */
  guidance?: number;
  /** After each step: (steps done, total, x_t in VP scale, the step's x̂_0), (B, C, H, W) each. */
  onStep?: (step: number, total: number, x: Float32Array, x0: Float32Array) => void | Promise<void>;
}

/** A step's model call that has no answer yet. */
class ModelPending extends Error {
  constructor(readonly x: Tensor, readonly t: Tensor, readonly y: Tensor | undefined) {
    super('model output pending');
  }
}

/** The model spec the samplers take, for a page model. */
function specFor(info: WebModelInfo, model: ModelFn): DiffusionModelSpec {
  return {
    model,
    alphasCumprod: alphasCumprodOf(betasFor(info.diffusion)),
    meanType: info.diffusion.meanType as ModelMeanType,
    varType: info.diffusion.varType as ModelVarType,
    rescaleTimesteps: info.diffusion.rescaleTimesteps,
    clipDenoised: true, // as `diffuse sample`
  };
}

/** Labels (B,) cycled from classes, as `diffuse sample --class`. */
export function labelsFor(info: WebModelInfo, batch: number, classes: number[] | undefined): BigInt64Array | null {
  if (info.numClasses === 0) return null;
  const pool = classes && classes.length > 0 ? classes : Array.from({ length: info.numClasses }, (_, i) => i);
  return BigInt64Array.from({ length: batch }, (_, i) => BigInt(pool[i % pool.length]!));
}

/**
 * Samples a batch in the page: the CLI's sampler over the ONNX model.
 * @param info the model's shape and diffusion config.
 * @param net the network (ONNX Runtime).
 * @param o sampler, steps, noise, batch, classes, guidance, progress.
 * @returns x̂_0 (B, C, H, W) in [−1, 1], float32.
 */
export async function sampleInPage(info: WebModelInfo, net: AsyncModel, o: WebSampleOptions): Promise<Float32Array> {
  const shape = [o.batch, info.channels, info.imageSize, info.imageSize];
  if (o.noise.length !== shape.reduce((a, b) => a * b, 1)) throw new RangeError(`noise has ${o.noise.length} values, the batch needs ${shape.join('×')}`);
  const answers: Tensor[] = [];
  let calls = 0;
  const model: ModelFn = (x, t, kwargs) => {
    const k = calls++;
    if (k < answers.length) return answers[k]!;
    throw new ModelPending(x, t, kwargs['y']);
  };
  const y = labelsFor(info, o.batch, o.classes);
  const modelKwargs: ModelKwargs = y === null ? {} : { y: torch.tensor(y, { shape: [o.batch] }) };
  const scale = o.guidance ?? 1;
  const guidance: Guidance | undefined = scale === 1 || info.nullClass === null ? undefined : { kind: 'classifier-free', scale, nullClass: info.nullClass };
  const run = prepareSampler(specFor(info, model), { sampler: o.sampler, steps: o.steps, modelKwargs, guidance });
  let x = run.start(torch.tensor(Float32Array.from(o.noise), { shape })); // (B, C, H, W)
  for (let i = 0; i < run.total; i++) {
    answers.length = 0;
    for (;;) {
      calls = 0;
      try {
        const r = run.step(i, x);
        x = r.x;
        const scaleVp = run.vpScale(i);
        await o.onStep?.(i + 1, run.total, (scaleVp === 1 ? x : x.mul(scaleVp)).data() as Float32Array, r.x0.data() as Float32Array);
        break;
      } catch (e) {
        if (!(e instanceof ModelPending)) throw e;
        const out = await net(e.x.data() as Float32Array, e.x.shape as number[], e.t.data() as Float32Array, e.y === undefined ? null : (e.y.data() as BigInt64Array));
        answers.push(torch.tensor(out, { shape: [e.x.size(0), info.outChannels, info.imageSize, info.imageSize] }));
      }
    }
  }
  run.dispose();
  return x.data() as Float32Array;
}

/**
 * Standard normal start noise from a seed (mulberry32 uniform draws, Box–Muller), the same in
 * every browser and in Node; `diffuse sample --from-noise` takes it to reproduce a page's grid.
 * @param seed a 32-bit integer; @param n how many values.
 */
export function seededNoise(seed: number, n: number): Float32Array {
  let s = seed >>> 0;
  const uniform = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296; // in (0, 1)
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const phi = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(phi);
    if (i + 1 < n) out[i + 1] = r * Math.sin(phi);
  }
  return out;
}

/**
 * [−1, 1] images (B, C, H, W) → one RGBA grid (nrow columns), pixels as `diffuse sample`'s PNGs:
 * ((x + 1)·127.5) clamped and truncated.
 */
export function gridRgba(x: Float32Array, batch: number, channels: number, size: number, nrow: number): { data: Uint8ClampedArray<ArrayBuffer>; width: number; height: number } {
  const cols = Math.min(nrow, batch);
  const rows = Math.ceil(batch / cols);
  const pad = 2;
  const width = cols * (size + pad) + pad;
  const height = rows * (size + pad) + pad;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  for (let b = 0; b < batch; b++) {
    const ox = pad + (b % cols) * (size + pad);
    const oy = pad + Math.floor(b / cols) * (size + pad);
    for (let yy = 0; yy < size; yy++) {
      for (let xx = 0; xx < size; xx++) {
        const p = ((oy + yy) * width + ox + xx) * 4;
        for (let c = 0; c < 3; c++) {
          const v = x[((b * channels + (channels === 1 ? 0 : c)) * size + yy) * size + xx]!;
          data[p + c] = Math.trunc(Math.min(255, Math.max(0, (v + 1) * 127.5)));
        }
      }
    }
  }
  return { data, width, height };
}
