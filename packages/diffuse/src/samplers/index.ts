// Sampling entry points: sample() runs one of the samplers from noise to x_0;
// sampleProgressive() yields every intermediate (for animations).
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import type { ModelKwargs } from '../diffusion/enums.js';
import { classifierFreeGuidance } from '../guidance/classifier-free.js';
import type { Guidance } from '../guidance/index.js';
import { ddim } from './ddim.js';
import { ddpm } from './ddpm.js';
import type { DiffusionModelSpec } from './denoiser.js';
import { dpmSolverPlusPlus2M } from './dpm-solver-pp.js';
import { euler } from './euler.js';
import { heun } from './heun.js';
import { runProgressive, runToEnd, type SamplerStep } from './loop.js';
import { gaussian } from './noise.js';
import type { TimestepSpacing } from './timesteps.js';
import type { SamplerContext, SamplerRun } from './types.js';

export type SamplerName = 'ddpm' | 'ddim' | 'dpmpp-2m' | 'euler' | 'heun';

/** Options of sample() and sampleProgressive(). */
export interface SampleOptions {
  /** Which sampler. */
  sampler: SamplerName;
  /**
   * Steps (defaults: ddpm T, ddim 50, dpmpp-2m 20, euler 50, heun 25). Model evaluations per
   * step: one, except heun (two, one on its last step).
   */
  steps?: number;
  /** DDIM's η (default 0). */
  eta?: number;
  /** Timesteps kept by ddpm and ddim (default 'uniform'). */
  spacing?: TimestepSpacing;
  /** DPM-Solver++ grid (default 'logSNR'). */
  skipType?: 'logSNR' | 'time';
  /** ρ of the Karras schedule for euler and heun (default 7). */
  rho?: number;
  /** Random source for the start noise and the noise of stochastic steps. */
  generator?: torch.Generator;
  /** Extra model inputs, e.g. `{ y }` labels (B,) int64. */
  modelKwargs?: ModelKwargs;
  /** Classifier-free or classifier guidance. */
  guidance?: Guidance;
  /** Called with (steps done, total) after each step. */
  progress?: (step: number, total: number) => void;
  /** The start noise z ~ N(0, I) (B, C, H, W) instead of drawing it (not consumed). */
  noise?: Tensor;
  /** Where to draw the start noise when `noise` is not given (default 'cpu'; the model's device). */
  device?: torch.Device;
}

/** The sampler run for the options (guidance applied). */
function prepare(spec: DiffusionModelSpec, options: SampleOptions): SamplerRun {
  const g = options.guidance;
  const ctx: SamplerContext = {
    spec: g?.kind === 'classifier-free' ? { ...spec, model: classifierFreeGuidance(spec.model, g) } : spec,
    modelKwargs: options.modelKwargs ?? {},
    generator: options.generator,
    classifier: g?.kind === 'classifier' ? g : undefined,
  };
  const { steps } = options;
  switch (options.sampler) {
    case 'ddpm':
      return ddpm(ctx, { steps, spacing: options.spacing });
    case 'ddim':
      return ddim(ctx, { steps, eta: options.eta, spacing: options.spacing });
    case 'dpmpp-2m':
      return dpmSolverPlusPlus2M(ctx, { steps, skipType: options.skipType });
    case 'euler':
      return euler(ctx, { steps, rho: options.rho });
    case 'heun':
      return heun(ctx, { steps, rho: options.rho });
    default:
      throw new Error(`unknown sampler '${String(options.sampler)}' (ddpm, ddim, dpmpp-2m, euler, heun)`);
  }
}

function startNoise(shape: number[], options: SampleOptions): Tensor {
  if (options.noise === undefined) return gaussian(shape, options.device, options.generator); // (B, C, H, W)
  if (options.noise.shape.join() !== shape.join()) {
    throw new Error(`sample: noise has shape [${options.noise.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  return options.noise.detach(); // a second handle, so it can be disposed like a drawn one
}

/**
 * Draws samples.
 * @param spec the model (see DiffusionModelSpec).
 * @param shape the batch shape [B, C, H, W].
 * @param options the sampler and its settings.
 * @returns x_0 (B, C, H, W), float32; every intermediate is disposed.
 */
export function sample(spec: DiffusionModelSpec, shape: number[], options: SampleOptions): Tensor {
  const run = prepare(spec, options);
  const z = startNoise(shape, options);
  try {
    return runToEnd(run, z, options.progress);
  } finally {
    z.dispose();
  }
}

/**
 * Draws samples step by step, yielding { step, total, x, x0 } after each step: x is the current
 * x_t in VP scale (x_0 after the last step), x0 the model's x_0 prediction. The yielded tensors
 * belong to the caller.
 * @param spec the model; @param shape [B, C, H, W]; @param options as for sample().
 */
export function* sampleProgressive(
  spec: DiffusionModelSpec,
  shape: number[],
  options: SampleOptions,
): Generator<SamplerStep, void, undefined> {
  const run = prepare(spec, options);
  const z = startNoise(shape, options).keep();
  try {
    yield* runProgressive(run, z, options.progress);
  } finally {
    z.dispose();
  }
}

export { ddpm, respacedPosterior, type DdpmOptions, type RespacedPosterior } from './ddpm.js';
export { ddim, ddimInvert, type DdimOptions, type DdimInvertOptions } from './ddim.js';
export { dpmSolverPlusPlus2M, type DpmSolverPlusPlusOptions } from './dpm-solver-pp.js';
export { euler } from './euler.js';
export { karrasSetup, modelKarrasSigmas, type KarrasOptions, type KarrasSetup } from './karras.js';
export { heun } from './heun.js';
export {
  karrasDenoiser,
  learnsSigma,
  modelTimesteps,
  predict,
  predictAt,
  predictionFromOutput,
  runModel,
  type DiffusionModelSpec,
  type KarrasDenoiser,
  type ModelOutput,
  type Prediction,
} from './denoiser.js';
export { DiscreteSigmas, karrasSigmas, logSnrUniformSigmas, timeUniformSigmas, veScaling, type VeScaling } from './sigmas.js';
export { samplerTimesteps, type TimestepSpacing } from './timesteps.js';
export { gaussian, gaussianLike } from './noise.js';
export { runProgressive, runToEnd, type SamplerStep } from './loop.js';
export { VP_STATE, type SamplerContext, type SamplerRun, type StepResult } from './types.js';
