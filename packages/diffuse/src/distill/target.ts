// The regression target of progressive distillation (Salimans & Ho 2022, Algorithm 2): the x̃
// for which ONE deterministic DDIM step of the student from t to t'' lands where TWO DDIM steps
// of the teacher (t → t' → t'') land. Per-example noise levels: every α, σ here is a tensor
// broadcastable to the images, e.g. (B, 1, 1, 1).
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

/** A VP noise level: z = α x + σ ε with α² + σ² = 1 (α = 1, σ = 0 is the clean image). */
export interface Level {
  alpha: Tensor;
  sigma: Tensor;
}

/**
 * One deterministic DDIM step (Song et al. 2021, eq. 12 at η = 0, in the paper's form):
 * z_s = α_s x̂ + (σ_s / σ_t)(z_t − α_t x̂).
 * @param zt the state at t (B, C, H, W); @param xHat the prediction x̂(z_t) (B, C, H, W).
 * @param t its level; @param s the level to step to (σ_s = 0: z_s = x̂).
 * @returns z_s (B, C, H, W).
 */
export function ddimStep(zt: Tensor, xHat: Tensor, t: Level, s: Level): Tensor {
  return torch.tidy(() => {
    const epsDir = zt.sub(xHat.mul(t.alpha)).div(t.sigma); // (B, C, H, W): ε̂ = (z_t − α_t x̂)/σ_t
    return xHat.mul(s.alpha).add(epsDir.mul(s.sigma)); // (B, C, H, W)
  });
}

/**
 * The student's target (Algorithm 2, "x̃"): the x for which a DDIM step t → t'' from z_t gives
 * the teacher's z_t'': solving z_t'' = α_t'' x̃ + (σ_t''/σ_t)(z_t − α_t x̃) for x̃,
 * x̃ = (z_t'' − (σ_t''/σ_t) z_t) / (α_t'' − (σ_t''/σ_t) α_t).
 * (At t'' = 0, σ = 0: x̃ = z_t'', the teacher's final x̂.)
 * @param zt z_t (B, C, H, W); @param ztt z_t'' after the teacher's two steps (B, C, H, W).
 * @param t the level of z_t; @param tt the level t''.
 * @returns x̃ (B, C, H, W).
 */
export function twoStepTarget(zt: Tensor, ztt: Tensor, t: Level, tt: Level): Tensor {
  return torch.tidy(() => {
    const ratio = tt.sigma.div(t.sigma); // (B, 1, 1, 1): σ_t'' / σ_t
    return ztt.sub(zt.mul(ratio)).div(tt.alpha.sub(ratio.mul(t.alpha))); // (B, C, H, W)
  });
}
