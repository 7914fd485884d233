// `diffuse sample`: images from a checkpoint → grid.png, one PNG per sample, samples.npz.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';

import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { writeFolderAtomic } from '../../io/atomic.js';
import { makeGrid } from '../../io/grid.js';
import { readNpzSync, writeNpz } from '../../io/npz.js';
import { writePng } from '../../io/png.js';
import { reportClips, writeClips } from '../clip-output.js';
import { generateImages, imageShapeOf, sampleSizeProblem, type SamplerChoice } from '../../pipeline/generate.js';
import { loadPipeline, type Pipeline } from '../../pipeline/load.js';
import { applyLoras } from '../../adapters/apply.js';
import { controlledModelFn, loadControlNet } from '../../adapters/controlnet.js';
import { readControlImages } from '../../control/read.js';
import { UsageError, type FlagSpec, type FlagValue } from '../args.js';
import { LORA_FLAG, parseLoraSpecs } from '../lora-flag.js';
import type { Precision } from '../../models/precision.js';
import { applyMachineFlags, DEVICE_FLAG, PRECISION_FLAG, THREADS_FLAG } from '../common-flags.js';
import type { Command } from '../main.js';
import { Progress } from '../progress.js';
import { checkpointPhase } from '../../distill/schedule.js';
import { autoModelKind, autoSampler, DiscreteSigmas, SAMPLERS, sigmaBounds, SPACINGS, TIMESTEP_SPACINGS, type SamplerName, type Spacing } from '../../samplers/index.js';
import { requireUNet } from '../../train/factory.js';

/** Flags shared by `sample`, `animate` and `demo`. */
export const SAMPLING_FLAGS: FlagSpec[] = [
  { key: 'checkpoint', type: 'string', help: "a training output folder, a checkpoint directory, or a shipped model name (e.g. 'digits-cpu')", group: 'Model' },
  { key: 'ema', type: 'string', help: "EMA rate to use, or 'none' for the raw weights", defaultText: 'the first EMA rate' },
  LORA_FLAG,
  { key: 'sampler', type: 'string', choices: SAMPLERS, help: 'sampling algorithm (docs/samplers.md)', defaultText: 'ddim', group: 'Sampling' },
  {
    key: 'steps',
    type: 'int',
    min: 1,
    help: 'sampler steps (ddpm: ≤ T); model evaluations = steps, but heun and dpmpp-2s take two a step (one on the last)',
    defaultText: 'ddim 50, dpmpp-2m/3m 20, dpmpp-2s 10, unipc 10, euler 50, heun 25, ddpm T',
  },
  { key: 'eta', type: 'float', min: 0, help: "DDIM's η (0 = deterministic)", defaultText: '0' },
  {
    key: 'spacing',
    type: 'string',
    choices: SPACINGS,
    help: "the step grid: logsnr (uniform in log-SNR), karras (ρ = 7), time (uniform in t), or diffusers' timestep spacings linspace, leading, trailing, and improved-diffusion's uniform, ddim (ddpm and ddim take only the timestep spacings)",
    defaultText: 'ddpm/ddim uniform, dpmpp-*/unipc-* logsnr, euler/heun karras',
  },
  { key: 'sigmaMax', type: 'float', help: 'start no higher than this noise level σ = √((1−ᾱ)/ᾱ) (> 0; the cosine schedule reaches σ ≈ 1e4, where steps are wasted; 80 is the EDM choice)', defaultText: "the model's σ(T−1)" },
  { key: 'sigmaMin', type: 'float', help: 'visit no noise level below this σ (> 0)', defaultText: "the model's σ(0)" },
  { key: 'denoiseFinal', type: 'bool', help: "end with the model's x̂₀ of the last level (true), or stop at the lowest level and keep its x_t (false)", defaultText: 'true' },
  { key: 'order', type: 'int', min: 1, max: 3, help: "UniPC's order p (the corrector makes it p + 1)", defaultText: '2' },
  { key: 'guidance', type: 'float', min: 0, help: 'classifier-free guidance scale s (1 = none; class-conditional models)' },
  { key: 'class', type: 'ints', min: 0, help: 'class labels to draw, cycled (class-conditional models)' },
  { key: 'seed', type: 'int', min: 0, help: 'random seed', defaultText: '0' },
];

export function emaOption(v: FlagValue | undefined): number | 'none' | undefined {
  if (v === undefined) return undefined;
  if (v === 'none') return 'none';
  const r = Number(v);
  if (!(r > 0 && r < 1)) throw new UsageError(`--ema: expected a rate in (0, 1) or 'none', got '${String(v)}'`);
  return r;
}

/**
 * The sampler flags as sampler options, checked for what a flag parser cannot see: a σ clamp
 * that is not positive or is empty, a grid the sampler cannot use, --order without UniPC.
 */
export function samplerChoice(f: Record<string, FlagValue>): SamplerChoice {
  const sampler = f.sampler as SamplerName | undefined;
  const spacing = f.spacing as Spacing | undefined;
  const sigmaMin = f.sigmaMin as number | undefined;
  const sigmaMax = f.sigmaMax as number | undefined;
  const denoiseFinal = f.denoiseFinal as boolean | undefined;
  const name = sampler ?? 'ddim';
  for (const [flag, v] of [['--sigma-min', sigmaMin], ['--sigma-max', sigmaMax]] as const) {
    if (v !== undefined && !(v > 0)) throw new UsageError(`${flag}: must be a noise level > 0, got ${v}`);
  }
  if (sigmaMin !== undefined && sigmaMax !== undefined && !(sigmaMin < sigmaMax)) {
    throw new UsageError(`--sigma-min ${sigmaMin} must be below --sigma-max ${sigmaMax}`);
  }
  if ((name === 'ddpm' || name === 'ddim') && spacing !== undefined && !(TIMESTEP_SPACINGS as readonly string[]).includes(spacing)) {
    throw new UsageError(`--spacing ${spacing}: ${name} visits training timesteps; use one of ${TIMESTEP_SPACINGS.join(', ')}`);
  }
  if (name === 'ddpm' && (sigmaMin !== undefined || sigmaMax !== undefined || denoiseFinal !== undefined)) {
    throw new UsageError('--sigma-min, --sigma-max and --denoise-final do not apply to ddpm (its chain always ends at x_0)');
  }
  if (f.order !== undefined && !name.startsWith('unipc')) throw new UsageError(`--order applies to unipc-bh1 and unipc-bh2, not ${name}`);
  return { sampler, steps: f.steps as number | undefined, eta: f.eta as number | undefined, spacing, sigmaMin, sigmaMax, denoiseFinal, order: f.order as number | undefined };
}

/**
 * A distilled student samples with DDIM on the grid recorded in it (distill/schedule.ts) unless
 * told otherwise (--sampler other than ddim, or --spacing: then it is sampled as any model).
 * @throws UsageError for --steps other than the student's.
 */
export function studentChoice(pipe: Pipeline, choice: SamplerChoice): SamplerChoice {
  const d = pipe.config.distill;
  if (d === undefined || (choice.sampler !== undefined && choice.sampler !== 'ddim') || choice.spacing !== undefined) return choice;
  const phase = checkpointPhase(d.phases, pipe.step);
  if (choice.steps !== undefined && choice.steps !== phase.steps) {
    throw new UsageError(`${pipe.dir}: this student was distilled for ${phase.steps} DDIM steps on its own grid; pass --steps ${phase.steps} (or --spacing to sample it as an ordinary model)`);
  }
  console.log(`distilled student: DDIM, ${phase.steps} step${phase.steps === 1 ? '' : 's'} on its grid t = ${[...phase.timesteps].reverse().join(', ')}`);
  return { ...choice, sampler: 'ddim', steps: phase.steps, spacing: phase.timesteps };
}

/** What `--sampler auto` decides by itself: the flags it refuses beside it. */
const AUTO_DECIDES = ['steps', 'spacing', 'sigmaMax', 'sigmaMin', 'denoiseFinal', 'order', 'eta'];

/**
 * `--sampler auto --nfe N`: a distilled student's own grid when it fits the budget, else the best
 * configuration measured within N model evaluations (samplers/auto.ts); says which it picked.
 * @returns the sampler options, or null without --sampler auto.
 * @throws UsageError for --nfe without auto, auto without --nfe, or auto with the flags it sets.
 */
export function autoChoice(pipe: Pipeline, f: Record<string, FlagValue>): SamplerChoice | null {
  if (f.sampler !== 'auto') {
    if (f.nfe !== undefined) throw new UsageError('--nfe is the budget of --sampler auto; with another sampler give --steps');
    return null;
  }
  const nfe = f.nfe as number | undefined;
  if (nfe === undefined) throw new UsageError('--sampler auto needs --nfe N (the most model evaluations to spend)');
  const clash = AUTO_DECIDES.filter((k) => f[k] !== undefined);
  if (clash.length > 0) throw new UsageError(`--sampler auto chooses the steps and grid itself; drop --${clash.map((k) => k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(', --')}`);
  const d = pipe.config.distill;
  if (d !== undefined && checkpointPhase(d.phases, pipe.step).steps <= nfe) {
    console.log(`auto (${nfe} evaluations): the distilled student's own grid`);
    return studentChoice(pipe, {});
  }
  const { options, measured, table } = autoSampler(nfe, autoModelKind(pipe.config.diffusion.meanType));
  const how = `${options.sampler} ${options.steps} steps${options.order !== undefined ? `, order ${options.order}` : ''}${options.sigmaMax !== undefined ? `, σ_max ${options.sigmaMax}` : ''}${options.denoiseFinal === false ? ', no final denoise' : ''}`;
  console.log(
    measured === null
      ? `auto (${nfe} evaluations): ${how} — below the smallest budget measured (${table.configs[0]!.nfe}); for this few, distill a student (diffuse distill)`
      : `auto (${nfe} evaluations): ${how} — FID ${measured.fid} at ${measured.nfe} evaluations, the best measured within ${nfe} on ${table.measuredOn}`,
  );
  return options;
}

/** Refuses a σ clamp that leaves nothing of the model's noise levels. */
export function checkClamp(pipe: Pipeline, choice: SamplerChoice): void {
  try {
    sigmaBounds(new DiscreteSigmas(pipe.spec.alphasCumprod), choice);
  } catch (e) {
    throw new UsageError(`--sigma-min/--sigma-max: ${(e as Error).message}`);
  }
}

/**
 * Loads --checkpoint (with --ema and the --lora adapters) and checks --class and --guidance
 * against the model, for every command that samples.
 */
export function loadSamplingPipeline(f: Record<string, FlagValue>, device: 'cpu' | 'cuda', o: { clips?: boolean; command?: string } = {}): Pipeline {
  const loras = parseLoraSpecs((f.lora as string[] | undefined) ?? []);
  const pipe = loadPipeline(f.checkpoint as string, { ema: emaOption(f.ema), device, precision: f.precision as Precision | undefined });
  if (o.clips !== true) refuseClipModel(pipe, o.command ?? 'this command');
  for (const a of applyLoras(pipe.model, loras)) console.log(`LoRA ${a.file} at scale ${a.lora.scale} (r=${a.meta.rank}, ${a.meta.paths.length} layers, step ${a.meta.step})`);
  const classes = f.class as number[] | undefined;
  const k = pipe.config.model.numClasses;
  if (classes && k === 0) throw new UsageError('--class: this model is not class-conditional');
  if (classes?.some((c) => c >= k)) throw new UsageError(`--class: this model has classes 0..${k - 1}`);
  if (f.guidance !== undefined && k === 0) throw new UsageError('--guidance: classifier-free guidance needs a class-conditional model');
  return pipe;
}

/**
 * Commands built for images stop on a clip model with one line (only `sample` draws clips).
 * @param pipe the loaded pipeline; @param command the command's name, for the message.
 * @throws UsageError for a clip model.
 */
export function refuseClipModel(pipe: Pipeline, command: string): void {
  const t = pipe.config.model.frames;
  if (t !== undefined) throw new UsageError(`${pipe.dir}: a clip model (${t} frames); ${command} takes image models — draw its clips with diffuse sample`);
}

/**
 * With --controlnet: loads it beside the model (which then samples through it) and reads the
 * control maps; null without.
 * @returns the maps (K, cc, H, W), kept alive for the whole run.
 */
async function controlFor(pipe: Pipeline, f: Record<string, FlagValue>): Promise<Tensor | null> {
  if (f.controlnet === undefined) {
    for (const k of ['controlImage', 'controlScale', 'detect']) if (f[k] !== undefined) throw new UsageError(`--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} needs --controlnet`);
    return null;
  }
  if (f.controlImage === undefined) throw new UsageError('--controlnet needs --control-image FILE|DIR|FILE.npz (the control maps)');
  const unet = requireUNet(pipe.model, '--controlnet');
  const loaded = loadControlNet(unet, f.controlnet as string);
  const { imageSize, channels } = pipe.config.model;
  const maps = await readControlImages(f.controlImage as string, { size: imageSize, controlChannels: loaded.controlChannels, imageChannels: channels, detect: f.detect ? loaded.control : undefined });
  pipe.spec = { ...pipe.spec, model: controlledModelFn(unet, loaded.cn, (f.controlScale as number | undefined) ?? 1) };
  console.log(`ControlNet ${loaded.file} (${loaded.control}) with ${maps.size(0)} control map${maps.size(0) === 1 ? '' : 's'} at scale ${(f.controlScale as number | undefined) ?? 1}`);
  return maps.keep();
}

/**
 * Reads start noises x_T for --from-noise: arr_0 of an .npz, float32 (N, C, H, W) of the model's shape.
 * @throws UsageError for another dtype or shape; DataError for a missing or corrupt file.
 */
function readStartNoise(file: string, pipe: Pipeline): Tensor {
  const arr = readNpzSync(file).get('arr_0');
  const { imageSize: s, channels: c } = pipe.config.model;
  if (arr === undefined || arr.dtype !== 'float32' || arr.shape.length !== 4 || arr.shape[1] !== c || arr.shape[2] !== s || arr.shape[3] !== s) {
    const got = arr === undefined ? 'no arr_0' : `arr_0 ${arr.dtype} [${arr.shape.join(', ')}]`;
    throw new UsageError(`--from-noise ${file}: expected arr_0 float32 [N, ${c}, ${s}, ${s}] for this model, got ${got}`);
  }
  return torch.tensor(arr.data as Float32Array, { shape: arr.shape }).keep();
}

export const command: Command = {
  spec: {
    name: 'sample',
    summary: 'draw images from a checkpoint (grid.png, PNGs, samples.npz)',
    usage: 'diffuse sample --checkpoint DIR|NAME --n N --out DIR [--sampler S] [--steps S | --sampler auto --nfe N] [--guidance W] [--class K,...]',
    flags: [
      ...SAMPLING_FLAGS.map((g) => (g.key === 'sampler' ? { ...g, choices: [...SAMPLERS, 'auto'], help: "sampling algorithm (docs/samplers.md); 'auto' picks the best measured for --nfe" } : g)),
      { key: 'nfe', type: 'int', min: 1, help: 'with --sampler auto: the most model evaluations to spend', group: 'Sampling' },
      { key: 'n', type: 'int', min: 1, help: 'number of images', defaultText: '64', group: 'Output' },
      { key: 'batchSize', type: 'int', min: 1, help: 'images per batch', defaultText: '64' },
      { key: 'fromNoise', type: 'string', help: "start from these x_T (an .npz whose arr_0 is float32 N×C×H×W, e.g. `diffuse invert`'s noise.npz); --n defaults to N" },
      { key: 'out', type: 'string', help: 'output folder' },
      { key: 'height', type: 'int', min: 1, help: 'image height (default the trained size; a DiT takes any multiple of its patch, a UNet of 2^(levels − 1))' },
      { key: 'width', type: 'int', min: 1, help: 'image width (default the trained size)' },
      { key: 'controlnet', type: 'string', help: "a ControlNet ('diffuse controlnet train' output folder or its controlnet.safetensors)", group: 'ControlNet' },
      { key: 'controlImage', type: 'string', help: 'control maps (an image, a folder of images, or an .npz), the model\'s size; sample i uses map i mod K' },
      { key: 'controlScale', type: 'float', min: 0, help: 'conditioning scale (0 = the base model)', defaultText: '1' },
      { key: 'detect', type: 'bool', help: "the control images are images: make the maps with the ControlNet's detector (Canny…)" },
      THREADS_FLAG,
      PRECISION_FLAG,
      DEVICE_FLAG,
    ],
  },
  async run(args) {
    const f = args.flags;
    const device = applyMachineFlags(f);
    if (f.checkpoint === undefined) throw new UsageError("'diffuse sample' needs --checkpoint (a training output folder, or 'digits-cpu' for the shipped model)");
    if (f.out === undefined) throw new UsageError("'diffuse sample' needs --out DIR");
    const out = f.out as string;
    // Never overwrite something the user made: only an earlier sample folder may be replaced.
    if (existsSync(out) && readdirSync(out).length > 0 && !existsSync(path.join(out, 'samples.npz'))) {
      throw new UsageError(`${out} exists and is not a folder of earlier samples; choose another --out`);
    }
    const flagChoice = samplerChoice(f.sampler === 'auto' ? Object.fromEntries(Object.entries(f).filter(([k]) => k !== 'sampler')) : f);
    const pipe = loadSamplingPipeline(f, device, { clips: true });
    const clipFrames = pipe.config.model.frames;
    if (clipFrames !== undefined && (f.fromNoise !== undefined || f.controlnet !== undefined)) {
      throw new UsageError(`--${f.fromNoise !== undefined ? 'from-noise' : 'controlnet'}: takes image models; this is a clip model (${clipFrames} frames)`);
    }
    const choice = autoChoice(pipe, f) ?? studentChoice(pipe, flagChoice);
    checkClamp(pipe, choice);
    const control = await controlFor(pipe, f);
    const classes = f.class as number[] | undefined;
    const noise = f.fromNoise === undefined ? undefined : readStartNoise(f.fromNoise as string, pipe);
    const n = (f.n as number | undefined) ?? noise?.size(0) ?? 64;
    if (noise !== undefined && n > noise.size(0)) throw new UsageError(`--n ${n}: --from-noise ${String(f.fromNoise)} holds ${noise.size(0)} start noises`);
    if (pipe.decode !== undefined && (f.height !== undefined || f.width !== undefined)) {
      throw new UsageError("--height/--width: a latent model samples at its autoencoder's image size; drop --height/--width");
    }
    const trained = imageShapeOf(pipe).imageSize;
    const height = (f.height as number | undefined) ?? trained;
    const width = (f.width as number | undefined) ?? trained;
    const sizeProblem = pipe.decode !== undefined ? null : sampleSizeProblem(pipe, height, width);
    if (sizeProblem !== null) throw new UsageError(`--height/--width: ${sizeProblem}`);
    if ((height !== trained || width !== trained) && (control !== null || noise !== undefined)) {
      throw new UsageError('--height/--width: --controlnet and --from-noise take the trained size; drop --height/--width');
    }
    const progress = new Progress('sample');
    const t0 = Date.now();
    const imgs = generateImages(pipe, {
      n,
      height,
      width,
      batchSize: f.batchSize as number | undefined,
      ...choice,
      guidance: f.guidance as number | undefined,
      classes,
      seed: (f.seed as number | undefined) ?? 0,
      batchKwargs: control === null ? undefined : (start, count) => ({ control: control.indexSelect(0, torch.arange(start, start + count, 1, { dtype: 'int64' }).remainder(control.size(0))) }),
      noise,
      progress: (done, total) => progress.update(done / total, (Date.now() - t0) / 1000, `${Math.floor(done)}/${total} images`),
    });
    noise?.dispose();
    progress.clear();
    control?.dispose();
    // Write everything into a temporary folder, then swap it in: never a half-written output.
    if (clipFrames !== undefined) {
      await writeClips(out, imgs);
      reportClips(out, imgs, (Date.now() - t0) / 1000, pipe);
      return 0;
    }
    await writeFolderAtomic(out, async (tmp) => {
      mkdirSync(path.join(tmp, 'images'));
      const { height: h, width: w, channels } = imgs;
      const per = h * w * channels;
      await writePng(path.join(tmp, 'grid.png'), makeGrid({ data: imgs.images, n, height: h, width: w, channels }, { nrow: Math.ceil(Math.sqrt(n)) }));
      for (let i = 0; i < n; i++) {
        await writePng(path.join(tmp, 'images', `${String(i).padStart(6, '0')}.png`), { data: imgs.images.subarray(i * per, (i + 1) * per), width: w, height: h, channels });
      }
      const arrays: Parameters<typeof writeNpz>[1] = { arr_0: { dtype: 'uint8', shape: [n, h, w, channels], data: imgs.images } };
      if (imgs.labels) arrays.arr_1 = { dtype: 'int64', shape: [n], data: imgs.labels };
      await writeNpz(path.join(tmp, 'samples.npz'), arrays);
    });
    const secs = (Date.now() - t0) / 1000;
    console.log(`${n} images in ${secs.toFixed(1)} s (${(n / secs).toFixed(1)} img/s) from ${pipe.dir}${pipe.emaRate !== null ? ` (EMA ${pipe.emaRate})` : ''}`);
    console.log(`grid:    ${path.join(out, 'grid.png')}`);
    console.log(`images:  ${path.join(out, 'images')}/`);
    console.log(`arrays:  ${path.join(out, 'samples.npz')} (arr_0 uint8 ${n}×${imgs.height}×${imgs.width}×${imgs.channels}${imgs.labels ? ', arr_1 labels' : ''})`);
    return 0;
  },
};
