// What the Karras-schedule samplers (Euler, Heun) share: the σ schedule of Karras et al. 2022
// (eq. 5, ρ = 7) between the model's smallest and largest discrete σ, and the denoiser D(x, σ).
import { karrasDenoiser, type KarrasDenoiser } from './denoiser.js';
import { DiscreteSigmas, karrasSigmas, veScaling } from './sigmas.js';
import type { SamplerContext, SamplerRun } from './types.js';

/** Options of the Karras-schedule samplers (Euler, Heun). */
export interface KarrasOptions {
  /** Steps N (default 50 for Euler, 25 for Heun). */
  steps?: number;
  /** ρ of the schedule (default 7). */
  rho?: number;
}

/** The Karras schedule for a model: σ_0 = σ(T−1) > … > σ_{N−1} = σ(0) > σ_N = 0. */
export function modelKarrasSigmas(sched: DiscreteSigmas, steps: number, rho = 7): Float64Array {
  return karrasSigmas(steps, sched.sigmaMin, sched.sigmaMax, rho);
}

/** A Karras-schedule run's levels, denoiser, and everything of the run but its step. */
export interface KarrasSetup {
  sigmas: Float64Array;
  denoise: KarrasDenoiser;
  base: Omit<SamplerRun, 'step'>;
}

/**
 * Prepares the parts of a Karras-schedule run.
 * @param ctx the model, kwargs and optional classifier guidance.
 * @param options steps and ρ; @param defaultSteps the steps when options give none.
 */
export function karrasSetup(ctx: SamplerContext, options: KarrasOptions, defaultSteps: number): KarrasSetup {
  const sched = new DiscreteSigmas(ctx.spec.alphasCumprod);
  const steps = options.steps ?? defaultSteps;
  const sigmas = modelKarrasSigmas(sched, steps, options.rho);
  const denoise = karrasDenoiser(ctx.spec, sched, ctx.modelKwargs, ctx.classifier);
  return { sigmas, denoise, base: { total: steps, ...veScaling(sigmas), dispose: () => {} } };
}
