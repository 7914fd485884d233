// DPM-Solver++(2S) (Lu et al. 2022, "DPM-Solver++", Algorithm 1): the second-order singlestep
// solver in data-prediction form, with the intermediate point at r = 1/2 of each step in λ
// (k-diffusion's sample_dpmpp_2s_ancestral with η = 0). On the VE state (x = x_t/α_t, λ = −log σ):
//   s_i = λ_i + r h_i,  u_i = (σ_{s_i}/σ_i) x_i − (e^{−r h_i} − 1) x_θ(x_i, λ_i)
//   D_i = (1 − 1/(2r)) x_θ(x_i, λ_i) + (1/(2r)) x_θ(u_i, s_i)
//   x_{i+1} = (σ_{i+1}/σ_i) x_i − (e^{−h_i} − 1) D_i
// Two model evaluations a step; the final step into σ = 0 (h = ∞) returns x_θ(x_i, λ_i) (one).
import type { Tensor } from '@diffuse/torch';
import type { SamplerContext, SamplerRun, StepResult } from './types.js';
import { lambdas, veRun, veSetup, type VeOptions } from './ve-run.js';

/** DPM-Solver++(2S) options. */
export interface DpmSolverPlusPlus2SOptions extends VeOptions {
  /** Where the intermediate point lies in each step, as a fraction r ∈ (0, 1] of h (default 1/2). */
  r?: number;
}

/**
 * Prepares DPM-Solver++(2S) sampling.
 * @param ctx the model, kwargs and optional classifier guidance (condition_score).
 * @param options steps (default 10), r, grid (default 'logsnr'), clamp and final step.
 * @returns a run of N steps (2N − 1 model evaluations, 2N without the final denoise).
 */
export function dpmSolverPlusPlus2S(ctx: SamplerContext, options: DpmSolverPlusPlus2SOptions = {}): SamplerRun {
  const r = options.r ?? 0.5;
  if (!(r > 0 && r <= 1)) throw new RangeError(`DPM-Solver++(2S): r must be in (0, 1], got ${r}`);
  const { sigmas, denoise } = veSetup(ctx, options, { steps: 10, spacing: 'logsnr' });
  const lambda = lambdas(sigmas);

  return veRun(sigmas, (i: number, x: Tensor): StepResult => {
    // 1. x_θ(x̃_{t_{i−1}}, t_{i−1}) (Algorithm 1, line 3's first evaluation).
    const denoised = denoise(x, sigmas[i]!); // (B, C, H, W)
    if (sigmas[i + 1] === 0) return { x: denoised.clone(), x0: denoised };
    // 2. The intermediate level s_i = λ_i + r h_i and u_i, a first-order step to it (lines 2–3).
    const h = lambda[i + 1]! - lambda[i]!;
    const sigmaS = Math.exp(-(lambda[i]! + r * h));
    const u = x.mul(sigmaS / sigmas[i]!).add(denoised.mul(-Math.expm1(-r * h))); // (B, C, H, W)
    // 3. D_i = (1 − 1/(2r)) x_θ(x_i) + (1/(2r)) x_θ(u_i, s_i) (line 4).
    const D = denoised.mul(1 - 1 / (2 * r)).add(denoise(u, sigmaS).mul(1 / (2 * r))); // (B, C, H, W)
    // 4. x_{i+1} = (σ_{i+1}/σ_i) x_i − (e^{−h_i} − 1) D_i (line 5).
    return { x: x.mul(sigmas[i + 1]! / sigmas[i]!).add(D.mul(-Math.expm1(-h))), x0: denoised };
  });
}
