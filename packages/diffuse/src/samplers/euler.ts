// Deterministic Euler sampling of the probability-flow ODE dx/dσ = (x − D(x, σ)) / σ
// (Karras et al. 2022, eq. 3 with σ(t) = t; Algorithm 1 without its second-order correction),
// by default on the Karras σ grid (eq. 5, ρ = 7) between the model's smallest and largest σ.
import type { Tensor } from '@diffuse/torch';
import type { SamplerContext, SamplerRun, StepResult } from './types.js';
import { veRun, veSetup, type VeOptions } from './ve-run.js';

/**
 * Prepares Euler sampling.
 * @param ctx the model, kwargs and optional classifier guidance (condition_score).
 * @param options steps (default 50), grid (default 'karras'), clamp and final step.
 * @returns a run of N steps (N model evaluations) from x_T = z to x_0.
 */
export function euler(ctx: SamplerContext, options: VeOptions = {}): SamplerRun {
  const { sigmas, denoise } = veSetup(ctx, options, { steps: 50, spacing: 'karras' });
  return veRun(sigmas, (i: number, x: Tensor): StepResult => {
    const sigma = sigmas[i]!;
    // 1. D(x_i; σ_i) and the ODE slope d_i = (x_i − D) / σ_i (Algorithm 1, line 4).
    const x0 = denoise(x, sigma); // (B, C, H, W)
    const d = x.sub(x0).div(sigma); // (B, C, H, W)
    // 2. x_{i+1} = x_i + (σ_{i+1} − σ_i) d_i (line 5); at σ_{i+1} = 0 this is D itself.
    return { x: x.add(d.mul(sigmas[i + 1]! - sigma)), x0 };
  });
}
