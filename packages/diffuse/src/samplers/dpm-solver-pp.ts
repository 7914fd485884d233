// DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2): a second-order multistep solver
// of the diffusion ODE in its data-prediction form, exact in the linear part. Written on the VE
// state x = x_t / α_t with σ = σ_t / α_t and λ = −log σ (half the log-SNR), where Algorithm 2's
//   x̃_{t_i} = (σ_{t_i} / σ_{t_{i−1}}) x̃_{t_{i−1}} − α_{t_i} (e^{−h_i} − 1) D_i
// becomes x_i = (σ_i / σ_{i−1}) x_{i−1} − (e^{−h_i} − 1) D_i (k-diffusion's sample_dpmpp_2m).
// The first step has no history and the final step into σ = 0, where h = ∞: both are the
// first-order update, DPM-Solver++(1) = DDIM; the final one returns D itself.
import type { Tensor } from '@diffuse/torch';
import type { SamplerContext, SamplerRun, StepResult } from './types.js';
import { DenoisedHistory, lambdas, veRun, veSetup, type VeOptions } from './ve-run.js';

/** DPM-Solver++(2M) options. */
export interface DpmSolverPlusPlusOptions extends VeOptions {
  /** Deprecated alias of spacing: 'logSNR' is 'logsnr', 'time' is 'time'. */
  skipType?: 'logSNR' | 'time';
}

/**
 * Prepares DPM-Solver++(2M) sampling.
 * @param ctx the model, kwargs and optional classifier guidance (condition_score).
 * @param options steps (default 20), grid (default 'logsnr'), clamp and final step.
 * @returns a run of N steps (N model evaluations) from x_T = z to x_0.
 */
export function dpmSolverPlusPlus2M(ctx: SamplerContext, options: DpmSolverPlusPlusOptions = {}): SamplerRun {
  const spacing = options.spacing ?? (options.skipType === 'time' ? 'time' : 'logsnr');
  const { sigmas, denoise } = veSetup(ctx, { ...options, spacing }, { steps: 20, spacing: 'logsnr' });
  const lambda = lambdas(sigmas);
  const history = new DenoisedHistory(1); // x_θ,i−1

  return veRun(
    sigmas,
    (i: number, x: Tensor): StepResult => {
      // 1. The data prediction x_θ(x̃_{t_{i}}, t_i) (Algorithm 2, D = model evaluation).
      const denoised = denoise(x, sigmas[i]!); // (B, C, H, W)
      let next: Tensor;
      if (sigmas[i + 1] === 0) {
        // 2a. Final step to σ = 0: the first-order update with e^{−h} = 0 gives x_0 = D.
        next = denoised.clone();
      } else {
        // 2b. h_i = λ_{i+1} − λ_i; with history, D_i = (1 + 1/(2r)) x_θ,i − (1/(2r)) x_θ,i−1,
        //     r = h_{i−1}/h_i (Algorithm 2, lines 7–8); without, D_i = x_θ,i (line 4).
        const h = lambda[i + 1]! - lambda[i]!;
        let D = denoised;
        if (history.length > 0) {
          const prev = history.get(0);
          const r = (lambda[i]! - prev.lambda) / h;
          D = denoised.mul(1 + 1 / (2 * r)).sub(prev.denoised.mul(1 / (2 * r))); // (B, C, H, W)
        }
        // 3. x_{i+1} = (σ_{i+1}/σ_i) x_i − (e^{−h} − 1) D_i (lines 4 and 9).
        next = x.mul(sigmas[i + 1]! / sigmas[i]!).add(D.mul(-Math.expm1(-h))); // (B, C, H, W)
      }
      // 4. Keep x_θ,i for the next step.
      history.push(denoised, lambda[i]!);
      return { x: next, x0: denoised };
    },
    () => history.dispose(),
  );
}
