// Heun's second-order method on the probability-flow ODE (Karras et al. 2022, Algorithm 1, the
// deterministic sampler), by default on the Karras σ grid (eq. 5, ρ = 7): an Euler step, then the
// average of the slopes at both ends — except into σ = 0, where the last step stays Euler.
import type { Tensor } from '@diffuse/torch';
import type { SamplerContext, SamplerRun, StepResult } from './types.js';
import { veRun, veSetup, type VeOptions } from './ve-run.js';

/**
 * Prepares Heun sampling.
 * @param ctx the model, kwargs and optional classifier guidance (condition_score).
 * @param options steps (default 25), grid (default 'karras'), clamp and final step.
 * @returns a run of N steps (2N − 1 model evaluations, 2N without the final denoise) from x_T = z to x_0.
 */
export function heun(ctx: SamplerContext, options: VeOptions = {}): SamplerRun {
  const { sigmas, denoise } = veSetup(ctx, options, { steps: 25, spacing: 'karras' });
  return veRun(sigmas, (i: number, x: Tensor): StepResult => {
    const sigma = sigmas[i]!;
    const sigmaNext = sigmas[i + 1]!;
    // 1. d_i = (x_i − D(x_i; σ_i)) / σ_i (Algorithm 1, line 4).
    const x0 = denoise(x, sigma); // (B, C, H, W)
    const d = x.sub(x0).div(sigma); // (B, C, H, W)
    // 2. The Euler step x_{i+1} = x_i + (σ_{i+1} − σ_i) d_i (line 5), final when σ_{i+1} = 0.
    const xEuler = x.add(d.mul(sigmaNext - sigma)); // (B, C, H, W)
    if (sigmaNext === 0) return { x: xEuler, x0 };
    // 3. d'_i = (x_{i+1} − D(x_{i+1}; σ_{i+1})) / σ_{i+1} (lines 6–7).
    const dNext = xEuler.sub(denoise(xEuler, sigmaNext)).div(sigmaNext); // (B, C, H, W)
    // 4. x_{i+1} = x_i + (σ_{i+1} − σ_i) (d_i + d'_i) / 2 (line 8).
    return { x: x.add(d.add(dNext).mul((sigmaNext - sigma) / 2)), x0 };
  });
}
