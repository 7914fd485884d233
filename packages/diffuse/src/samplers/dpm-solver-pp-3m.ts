// DPM-Solver++(3M) (Lu et al. 2022, "DPM-Solver++", sec. 4.2: the multistep solver of order 3 in
// data-prediction form; the official code's multistep_dpm_solver_third_update). On the VE state
// x = x_t/α_t with λ = −log σ and h = λ_{i+1} − λ_i, the exact solution of the ODE is
//   x_{i+1} = (σ_{i+1}/σ_i) x_i + σ_{i+1} ∫_{λ_i}^{λ_{i+1}} e^{λ} x_θ(λ) dλ            (eq. 9)
// and x_θ is expanded in λ around λ_i through the last three predictions m0, m1, m2:
//   x_θ(λ_i + u) ≈ m0 + (u/h) D1 + (u/h)² D2,   D1 ≈ h x_θ',  D2 ≈ h² x_θ''/2,
// so x_{i+1} = (σ_{i+1}/σ_i) x_i + c0 m0 + c1 D1 + c2 D2 with c_k = ∫_0^h e^{u−h} (u/h)^k du:
//   c0 = 1 − e^{−h},  c1 = (h − 1 + e^{−h})/h,  c2 = (h² − 2h + 2 − 2e^{−h})/h².
// c2 is twice the "φ_3" coefficient of the official code, diffusers and k-diffusion
// (−(φ_2/h − 1/2) = c2/2), which with D2 ≈ h² x_θ''/2 leaves the x_θ'' term half-integrated and
// the solver second order (measured 2.20 at 40 → 80 steps on the closed form of
// test/samplers-order.test.ts, against 4.08 with c2; docs/samplers.md). The first two steps
// have too little history (orders 1 and 2) and the final step into σ = 0, where
// h = ∞, returns x_θ itself, as in DPM-Solver++(2M); the second-order warm-up step is 2M's.
import type { Tensor } from '@diffuse/torch';
import type { SamplerContext, SamplerRun, StepResult } from './types.js';
import { DenoisedHistory, lambdas, veRun, veSetup, type VeOptions } from './ve-run.js';

/**
 * Prepares DPM-Solver++(3M) sampling.
 * @param ctx the model, kwargs and optional classifier guidance (condition_score).
 * @param options steps (default 20), grid (default 'logsnr'), clamp and final step.
 * @returns a run of N steps (N model evaluations) from x_T = z to x_0.
 */
export function dpmSolverPlusPlus3M(ctx: SamplerContext, options: VeOptions = {}): SamplerRun {
  const { sigmas, denoise } = veSetup(ctx, options, { steps: 20, spacing: 'logsnr' });
  const lambda = lambdas(sigmas);
  const history = new DenoisedHistory(2); // m1 = x_θ,i−1 and m2 = x_θ,i−2

  return veRun(
    sigmas,
    (i: number, x: Tensor): StepResult => {
      // 1. m0 = x_θ(x_i, λ_i), the one model evaluation of the step.
      const m0 = denoise(x, sigmas[i]!); // (B, C, H, W)
      let next: Tensor;
      if (sigmas[i + 1] === 0) {
        // 2a. Into σ = 0 (e^{−h} = 0): x_0 = x_θ.
        next = m0.clone();
      } else {
        // 2b. The linear part and the zeroth-order term: (σ_{i+1}/σ_i) x_i + c0 m0.
        const h = lambda[i + 1]! - lambda[i]!;
        const em1 = Math.expm1(-h); // e^{−h} − 1, exact for small h
        next = x.mul(sigmas[i + 1]! / sigmas[i]!).add(m0.mul(-em1)); // (B, C, H, W)
        if (history.length >= 1) {
          // 3. D1_0 = (m0 − m1)/r0 with r0 = h_0/h, h_0 = λ_i − λ_{i−1}: h x_θ' to first order.
          const { denoised: m1, lambda: lambda1 } = history.get(0);
          const r0 = (lambda[i]! - lambda1) / h;
          const d10 = m0.sub(m1).div(r0); // (B, C, H, W)
          if (history.length >= 2) {
            // 4. With m2: D1_1 = (m1 − m2)/r1, r1 = h_1/h; the divided differences
            //    D1 = D1_0 + r0/(r0+r1) (D1_0 − D1_1) (h x_θ' to second order) and
            //    D2 = (D1_0 − D1_1)/(r0+r1) (h² x_θ''/2).
            const { denoised: m2, lambda: lambda2 } = history.get(1);
            const r1 = (lambda1 - lambda2) / h;
            const diff = d10.sub(m1.sub(m2).div(r1)); // D1_0 − D1_1 (B, C, H, W)
            const d1 = d10.add(diff.mul(r0 / (r0 + r1))); // (B, C, H, W)
            const d2 = diff.div(r0 + r1); // (B, C, H, W)
            const c1 = (h + em1) / h;
            const c2 = (h * h - 2 * h - 2 * em1) / (h * h);
            next = next.add(d1.mul(c1)).add(d2.mul(c2)); // (B, C, H, W)
          } else {
            // 4'. The warm-up step with one previous point: DPM-Solver++(2M)'s D_i (Algorithm 2),
            //     c0 (m0 + D1_0/2), as the official code and diffusers ("midpoint") take it.
            next = next.add(d10.mul(-em1 / 2)); // (B, C, H, W)
          }
        }
      }
      // 5. Keep m0 for the next steps.
      history.push(m0, lambda[i]!);
      return { x: next, x0: m0 };
    },
    () => history.dispose(),
  );
}
