// What the VE-form solvers (Euler, Heun, DPM-Solver++, UniPC) share: the model as a denoiser
// D(x, σ), the levels of the run (grids.ts), and the run around their step — the start
// x = z √(1+σ_0²), the VP scale of each state, and the last step of a run that stops at σ_N > 0,
// whose VE state x_0 + σ_N ε is handed back as the VP x_t = x / √(1+σ_N²).
import type { Tensor } from '@diffuse/torch';
import { karrasDenoiser, type KarrasDenoiser } from './denoiser.js';
import { solverSigmas, type SigmaGridOptions, type Spacing } from './grids.js';
import { DiscreteSigmas, veScaling } from './sigmas.js';
import type { SamplerContext, SamplerRun, StepResult } from './types.js';

/** Options of every VE-form solver. */
export interface VeOptions extends SigmaGridOptions {
  /** Model evaluations N: N steps (Heun and DPM-Solver++(2S): two evaluations per step but the last). */
  steps?: number;
}

/** A VE-form run's levels and denoiser. */
export interface VeSetup {
  /** σ_0 > … > σ_N (grids.ts). */
  sigmas: Float64Array;
  /** D(x, σ), one model evaluation a call. */
  denoise: KarrasDenoiser;
  /** The model's discrete sigmas. */
  sched: DiscreteSigmas;
}

/**
 * Prepares the levels and denoiser of a VE-form run.
 * @param ctx the model, kwargs and optional classifier guidance.
 * @param options steps, grid and final step.
 * @param defaults the solver's default steps and grid.
 */
export function veSetup(ctx: SamplerContext, options: VeOptions, defaults: { steps: number; spacing: Spacing }): VeSetup {
  const sched = new DiscreteSigmas(ctx.spec.alphasCumprod);
  const sigmas = solverSigmas(sched, options.steps ?? defaults.steps, options, defaults.spacing);
  return { sigmas, denoise: karrasDenoiser(ctx.spec, sched, ctx.modelKwargs, ctx.classifier), sched };
}

/** λ_i = −log σ_i (half the log-SNR of the VP x_t; +∞ at σ = 0). */
export function lambdas(sigmas: Float64Array): Float64Array {
  return sigmas.map((s) => -Math.log(s));
}

/**
 * A SamplerRun around a VE-form step function.
 * @param sigmas the levels σ_0 > … > σ_N (N = the run's steps).
 * @param step step i from σ_i to σ_{i+1} on the VE state x (not consumed).
 * @param dispose releases what the step function holds across steps.
 */
export function veRun(sigmas: Float64Array, step: (i: number, x: Tensor) => StepResult, dispose: () => void = () => {}): SamplerRun {
  const N = sigmas.length - 1;
  const end = sigmas[N]!;
  const scaling = veScaling(sigmas);
  return {
    total: N,
    sigmaAt: (i) => sigmas[i]!,
    start: scaling.start,
    vpScale: (i) => (i === N - 1 ? 1 : scaling.vpScale(i)), // the last state is already x_0 or VP
    dispose,
    step(i: number, x: Tensor): StepResult {
      if (i < N - 1 || end === 0) return step(i, x);
      const toVp = scaling.vpScale(i);
      // A zero-length last step (a timestep grid that already ends at σ_lo) only changes scale.
      if (sigmas[i] === end) return { x: x.mul(toVp), x0: x.clone() }; // (B, C, H, W)
      const r = step(i, x);
      return { x: r.x.mul(toVp), x0: r.x0 }; // (B, C, H, W)
    },
  };
}

/** A multistep solver's last data predictions x_θ,i and their λ_i, newest first, held outside every scope. */
export class DenoisedHistory {
  private readonly items: { denoised: Tensor; lambda: number }[] = [];

  /** @param size how many to keep. */
  constructor(private readonly size: number) {}

  /** How many are held. */
  get length(): number {
    return this.items.length;
  }

  /** Adds x_θ at λ (a second handle on the same storage), dropping the oldest beyond size. */
  push(denoised: Tensor, lambda: number): void {
    this.items.unshift({ denoised: denoised.detach().keep(), lambda });
    while (this.items.length > this.size) this.items.pop()!.denoised.dispose();
  }

  /** The k-th newest (0 = the last pushed). */
  get(k: number): { denoised: Tensor; lambda: number } {
    const item = this.items[k];
    if (item === undefined) throw new RangeError(`history holds ${this.items.length}, asked for ${k}`);
    return item;
  }

  /** Releases every held tensor. */
  dispose(): void {
    for (const item of this.items.splice(0)) item.denoised.dispose();
  }
}
