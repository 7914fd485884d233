// Sampling many images in batches, with guidance and class labels, into uint8 NHWC arrays (the
// format of improved-diffusion's image_sample.py and the openai evaluator).
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { sample, sampleProgressive, type SampleOptions, type SamplerName } from '../samplers/index.js';
import type { Guidance } from '../guidance/index.js';
import type { Pipeline } from './load.js';
import type { ModelKwargs } from '../diffusion/enums.js';

/** The sampler and its settings (see SampleOptions). */
export interface SamplerChoice {
  sampler?: SamplerName;
  steps?: number;
  eta?: number;
  spacing?: SampleOptions['spacing'];
  sigmaMin?: number;
  sigmaMax?: number;
  denoiseFinal?: boolean;
  order?: number;
}

export interface GenerateOptions extends SamplerChoice {
  n: number;
  batchSize?: number;
  /** Classifier-free guidance scale (class-conditional models; 1 = none). */
  guidance?: number;
  /** Class labels to cycle through (class-conditional models); default all classes in turn. */
  classes?: number[];
  seed?: number;
  /** Extra model inputs for images start … start + count − 1 (e.g. a ControlNet's control maps). */
  batchKwargs?: (start: number, count: number) => ModelKwargs;
  /** Called after each sampler step with (images done so far + fraction of this batch, n). */
  progress?: (done: number, total: number) => void;
  /** The start noise x_T of every image (n, C, H, W) instead of drawing it (e.g. from `diffuse invert`). */
  noise?: Tensor;
  /** Image height and width (default the trained imageSize; another size must suit the network: see checkSampleSize). */
  height?: number;
  width?: number;
}

export interface GeneratedImages {
  /** uint8 (N, H, W, C) row-major; a clip model's (N, T, H, W, C): each clip's frames in order. */
  images: Uint8Array;
  /** Frames T per sample: 1 for an image model. */
  frames: number;
  /** int64 labels for class-conditional models, else null. */
  labels: BigInt64Array | null;
  n: number;
  /** The trained image side (the images' own are height × width). */
  size: number;
  height: number;
  width: number;
  channels: number;
}

/** The side and channels of a pipeline's images: the autoencoder's for a latent model, else the model's. */
export function imageShapeOf(pipe: Pipeline): { imageSize: number; channels: number } {
  return pipe.config.autoencoder ?? pipe.config.model;
}

/**
 * [-1, 1] floats (B, C, H, W) → uint8 (B, H, W, C): ((x + 1)·127.5) clamped, truncated as
 * improved-diffusion; clips (B, C, T, H, W) → (B, T, H, W, C), channels last as for images.
 */
export function toUint8NHWC(x: Tensor): Uint8Array {
  const channelsLast = x.ndim === 5 ? [0, 2, 3, 4, 1] : [0, 2, 3, 1];
  return torch.tidy(() => x.add(1).mul(127.5).clamp(0, 255).to('uint8').permute(channelsLast).contiguous().data() as Uint8Array);
}

/** Labels (count,) int64 for a class-conditional pipeline: `classes` (default all) cycled from index start; undefined otherwise. */
export function labelsFor(pipe: Pipeline, start: number, count: number, classes: number[] | undefined): Tensor | undefined {
  const k = pipe.config.model.numClasses;
  if (k === 0) return undefined;
  const pool = classes && classes.length > 0 ? classes : Array.from({ length: k }, (_, i) => i);
  return torch.tensor(BigInt64Array.from({ length: count }, (_, i) => BigInt(pool[(start + i) % pool.length]!)), { device: pipe.device });
}

/** Classifier-free guidance at a scale for a class-conditional pipeline (none at scale 1 or for unconditional models). */
export function guidanceFor(pipe: Pipeline, scale: number | undefined): Guidance | undefined {
  if (scale === undefined || scale === 1 || pipe.config.model.numClasses === 0) return undefined;
  return { kind: 'classifier-free', scale, nullClass: pipe.config.model.numClasses };
}

function samplerOptions(pipe: Pipeline, o: GenerateOptions, generator: torch.Generator, y: Tensor | undefined, extra: ModelKwargs = {}): SampleOptions {
  return {
    sampler: o.sampler ?? 'ddim',
    steps: o.steps,
    eta: o.eta,
    spacing: o.spacing,
    sigmaMin: o.sigmaMin,
    sigmaMax: o.sigmaMax,
    denoiseFinal: o.denoiseFinal,
    order: o.order,
    generator,
    device: pipe.device,
    modelKwargs: y ? { ...extra, y } : extra,
    guidance: guidanceFor(pipe, o.guidance),
  };
}

/**
 * Samples n images from a pipeline.
 * @returns uint8 NHWC images (and labels when class-conditional).
 */
export function generateImages(pipe: Pipeline, o: GenerateOptions): GeneratedImages {
  const { imageSize: size, channels } = imageShapeOf(pipe);
  const [height, width] = [o.height ?? size, o.width ?? size];
  // A latent model samples latents of its own trained size and decodes them to the autoencoder's images.
  if (pipe.decode !== undefined && (height !== size || width !== size)) throw new RangeError(`a latent model samples at its trained size ${size}×${size}, not ${height}×${width}`);
  const { channels: zChannels } = pipe.config.model;
  const [zHeight, zWidth] = pipe.decode !== undefined ? [pipe.config.model.imageSize, pipe.config.model.imageSize] : [height, width];
  const batch = Math.max(1, Math.min(o.batchSize ?? 64, o.n));
  // A clip model draws (b, C, T, H, W) noise; the diffusion and samplers are rank-agnostic.
  const frames = pipe.config.model.frames ?? 1;
  const clipDims = pipe.config.model.frames !== undefined ? [frames] : [];
  const images = new Uint8Array(o.n * frames * height * width * channels);
  const labels = pipe.config.model.numClasses > 0 ? new BigInt64Array(o.n) : null;
  const generator = new torch.Generator({ seed: o.seed ?? 0 });
  for (let start = 0; start < o.n; start += batch) {
    const count = Math.min(batch, o.n - start);
    torch.tidy(() => {
      const y = labelsFor(pipe, start, count, o.classes);
      const x = torch.noGrad(() =>
        sample(pipe.spec, [count, zChannels, ...clipDims, zHeight, zWidth], {
          ...samplerOptions(pipe, o, generator, y, o.batchKwargs?.(start, count)),
          noise: o.noise?.narrow(0, start, count).to(pipe.device), // (b, C, H, W)
          progress: o.progress ? (s, total) => o.progress!(start + (count * s) / total, o.n) : undefined,
        }),
      ); // (b, C, H, W), or latents (b, c, h, w) to decode
      images.set(toUint8NHWC(pipe.decode?.(x) ?? x), start * frames * height * width * channels);
      if (labels && y) labels.set(y.data() as BigInt64Array, start);
    });
  }
  return { images, labels, n: o.n, frames, size, height, width, channels };
}

/**
 * The denoising process as frames: every `every`-th sampler step of one batch, as uint8 NHWC
 * images of the current x_t (for `diffuse animate`).
 */
export function* generateFrames(pipe: Pipeline, o: GenerateOptions & { frames?: number }): Generator<{ step: number; total: number; images: Uint8Array }> {
  if (pipe.config.model.frames !== undefined) throw new RangeError('the denoising animation shows images; this is a clip model (draw its clips as GIFs with diffuse sample)');
  const { imageSize: size, channels } = pipe.config.model; // latents for a latent model: each frame is decoded
  const generator = new torch.Generator({ seed: o.seed ?? 0 });
  const y = labelsFor(pipe, 0, o.n, o.classes)?.keep();
  try {
    const steps = torch.noGrad(() =>
      sampleProgressive(pipe.spec, [o.n, channels, size, size], samplerOptions(pipe, o, generator, y)),
    );
    for (;;) {
      const r = torch.noGrad(() => steps.next());
      if (r.done) break;
      const { step, total, x, x0 } = r.value;
      const every = Math.max(1, Math.round(total / (o.frames ?? 40)));
      if (step % every === 0 || step === total) yield { step, total, images: torch.tidy(() => toUint8NHWC(pipe.decode?.(x) ?? x)) };
      x.dispose();
      x0.dispose();
    }
  } finally {
    y?.dispose();
  }
}

/**
 * Checks an image size to sample at: the UNet takes sizes divisible by 2^(levels − 1), the DiT
 * sizes divisible by its patch (its positions come from the patch coordinates).
 * @param pipe the pipeline; @param height H; @param width W.
 * @returns a one-line reason when the network cannot take H×W, else null.
 */
export function sampleSizeProblem(pipe: Pipeline, height: number, width: number): string | null {
  const d = pipe.model.sizeDivisor;
  if (height % d === 0 && width % d === 0) return null;
  const what = pipe.config.model.backbone === 'dit' ? `this DiT's patch size ${d}` : `this UNet's ${pipe.config.model.channelMult.length} levels (2^${pipe.config.model.channelMult.length - 1})`;
  return `${height}×${width} is not divisible by ${d}, which ${what} need${pipe.config.model.backbone === 'dit' ? 's' : ''}; choose multiples of ${d}`;
}
