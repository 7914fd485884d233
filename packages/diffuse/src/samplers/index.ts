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
import { dpmSolverPlusPlus2S } from './dpm-solver-pp-2s.js';
import { dpmSolverPlusPlus3M } from './dpm-solver-pp-3m.js';
import { euler } from './euler.js';
import type { Spacing } from './grids.js';
import { heun } from './heun.js';
import { runProgressive, runToEnd, type SamplerStep } from './loop.js';
import { gaussian } from './noise.js';
import { TIMESTEP_SPACINGS, type TimestepSpacing } from './timesteps.js';
import type { SamplerContext, SamplerRun } from './types.js';
import { uniPc } from './unipc.js';
import type { VeOptions } from './ve-run.js';

/** Every sampler, by the name the options and the CLI use. */
export const SAMPLERS = ['ddpm', 'ddim', 'dpmpp-2m', 'dpmpp-3m', 'dpmpp-2s', 'unipc-bh1', 'unipc-bh2', 'euler', 'heun'] as const;

export type SamplerName = (typeof SAMPLERS)[number];

/** Options of sample() and sampleProgressive(). */
export interface SampleOptions {
  /** Which sampler. */
  sampler: SamplerName;
  /**
   * Steps (defaults: ddpm T, ddim 50, dpmpp-2m 20, dpmpp-3m 20, dpmpp-2s 10, unipc 10, euler 50,
   * heun 25). Model evaluations per step: one, except heun and dpmpp-2s (two, one on a last
   * step into σ = 0).
   */
  steps?: number;
  /** DDIM's η (default 0). */
  eta?: number;
  /**
   * The grid (grids.ts): for ddpm and ddim a timestep spacing ('uniform' default, 'ddim',
   * 'linspace', 'leading', 'trailing') or an explicit list of timesteps; the σ-grid solvers take
   * those or 'logsnr' (default for dpmpp-* and unipc-*), 'karras' (default for euler and heun), 'time'.
   */
  spacing?: Spacing | readonly number[];
  /** Deprecated: DPM-Solver++(2M)'s grid, 'logSNR' or 'time' (use spacing). */
  skipType?: 'logSNR' | 'time';
  /** ρ of the Karras grid (default 7). */
  rho?: number;
  /** Visit no noise level above this σ (ddpm too, in the library); the cosine schedule's σ(T−1) ≈ 1e4. */
  sigmaMax?: number;
  /** Visit no noise level below this σ (all but ddpm). */
  sigmaMin?: number;
  /**
   * End with the model's x̂_0 of the last level (σ = 0, default true), or stop at the lowest
   * level and return that x_t (all but ddpm).
   */
  denoiseFinal?: boolean;
  /** UniPC's order p, 1–3 (default 2). */
  order?: number;
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

/**
 * The prepared run of a sampler (guidance applied), for callers that start it themselves
 * (sample() from noise; the editing tools from a noised image at run.sigmaAt(0)).
 * @param spec the model; @param options the sampler and its settings.
 * @returns the run (dispose() it if it is never driven to the end).
 */
export function prepareSampler(spec: DiffusionModelSpec, options: SampleOptions): SamplerRun {
  const g = options.guidance;
  const ctx: SamplerContext = {
    spec: g?.kind === 'classifier-free' ? { ...spec, model: classifierFreeGuidance(spec.model, g) } : spec,
    modelKwargs: options.modelKwargs ?? {},
    generator: options.generator,
    classifier: g?.kind === 'classifier' ? g : undefined,
  };
  const { steps, spacing, sigmaMin, sigmaMax, denoiseFinal } = options;
  const timestepSpacing = (who: string): TimestepSpacing | undefined => {
    if (spacing === undefined || typeof spacing !== 'string' || (TIMESTEP_SPACINGS as readonly string[]).includes(spacing)) {
      return spacing as TimestepSpacing | undefined;
    }
    throw new RangeError(`${who} visits training timesteps: spacing must be one of ${TIMESTEP_SPACINGS.join(', ')}, got '${spacing}'`);
  };
  const grid = (): VeOptions => {
    if (spacing !== undefined && typeof spacing !== 'string') throw new RangeError(`${options.sampler}: spacing must be a name, not a list of timesteps`);
    return { steps, spacing: spacing as Spacing | undefined, rho: options.rho, sigmaMin, sigmaMax, denoiseFinal };
  };
  switch (options.sampler) {
    case 'ddpm':
      return ddpm(ctx, { steps, spacing: timestepSpacing('ddpm'), sigmaMax });
    case 'ddim':
      return ddim(ctx, { steps, eta: options.eta, spacing: timestepSpacing('ddim'), sigmaMin, sigmaMax, denoiseFinal });
    case 'dpmpp-2m':
      return dpmSolverPlusPlus2M(ctx, { ...grid(), skipType: options.skipType });
    case 'dpmpp-3m':
      return dpmSolverPlusPlus3M(ctx, grid());
    case 'dpmpp-2s':
      return dpmSolverPlusPlus2S(ctx, grid());
    case 'unipc-bh1':
    case 'unipc-bh2':
      return uniPc(ctx, { ...grid(), variant: options.sampler === 'unipc-bh1' ? 'bh1' : 'bh2', order: options.order });
    case 'euler':
      return euler(ctx, grid());
    case 'heun':
      return heun(ctx, grid());
    default:
      throw new Error(`unknown sampler '${String(options.sampler)}' (${SAMPLERS.join(', ')})`);
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
  const run = prepareSampler(spec, options);
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
  const run = prepareSampler(spec, options);
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
export { dpmSolverPlusPlus2S, type DpmSolverPlusPlus2SOptions } from './dpm-solver-pp-2s.js';
export { dpmSolverPlusPlus3M } from './dpm-solver-pp-3m.js';
export { uniPc, type UniPcOptions, type UniPcVariant } from './unipc.js';
export { euler } from './euler.js';
export { heun } from './heun.js';
export { sigmaBounds, solverSigmas, SIGMA_SPACINGS, SPACINGS, type SigmaGridOptions, type SigmaSpacing, type Spacing } from './grids.js';
export { DenoisedHistory, lambdas, veRun, veSetup, type VeOptions, type VeSetup } from './ve-run.js';
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
export { samplerTimesteps, timestepRange, TIMESTEP_SPACINGS, type TimestepSpacing, type TimestepSpacingName } from './timesteps.js';
export { gaussian, gaussianLike } from './noise.js';
export { autoModelKind, autoSampler, AUTO_TABLES, type AutoChoice, type AutoModelKind, type AutoTable, type MeasuredConfig } from './auto.js';
export { runProgressive, runToEnd, type SamplerStep } from './loop.js';
export { VP_STATE, type SamplerContext, type SamplerRun, type StepResult } from './types.js';
