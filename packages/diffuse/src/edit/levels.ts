// The forward process at the samplers' noise levels σ = √((1−ᾱ)/ᾱ) (samplers/sigmas.ts): what
// the editing tools use to put an image, or a part of one, at the level a sampler run is at.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

/**
 * A sample of q(x_t | x_0) at noise level σ, in VP scale: x_t = √ᾱ x_0 + √(1−ᾱ) z with
 * ᾱ = 1/(1+σ²), i.e. (x_0 + σ z)/√(1+σ²) (Ho et al. 2020, eq. 4).
 * @param x0 clean images (B, C, H, W); @param sigma the level (0: x_0 itself); @param z N(0, I) like x0.
 * @returns x_t (B, C, H, W).
 */
export function noiseToLevel(x0: Tensor, sigma: number, z: Tensor): Tensor {
  if (sigma === 0) return x0.clone();
  return torch.tidy(() => x0.add(z.mul(sigma)).div(Math.sqrt(1 + sigma * sigma))); // (B, C, H, W)
}

/**
 * A sample of q(x_a | x_b) for a level σ_a ≥ σ_b (RePaint's jump back): the forward process run on
 * from x_b, x_a = √(ᾱ_a/ᾱ_b) x_b + √(1 − ᾱ_a/ᾱ_b) z.
 * @param xb VP x at σ_b (B, C, H, W); @param sigmaB its level; @param sigmaA the higher level; @param z N(0, I).
 * @returns x_a (B, C, H, W).
 */
export function renoise(xb: Tensor, sigmaB: number, sigmaA: number, z: Tensor): Tensor {
  const ratio = (1 + sigmaB * sigmaB) / (1 + sigmaA * sigmaA); // ᾱ_a / ᾱ_b
  return torch.tidy(() => xb.mul(Math.sqrt(ratio)).add(z.mul(Math.sqrt(Math.max(0, 1 - ratio))))); // (B, C, H, W)
}

/**
 * The start level of a strength s ∈ (0, 1] (SDEdit's t_0 = s·T, Meng et al. 2022): σ of
 * timestep round(s·(T−1)), at least timestep 1 (so a run has a level to go down to).
 * @param sigmas the model's discrete σ_t, ascending (DiscreteSigmas.sigmas); @param strength s.
 * @returns σ(t_0).
 */
export function strengthToSigma(sigmas: Float64Array, strength: number): number {
  if (!(strength >= 0 && strength <= 1)) throw new RangeError(`strength must be in [0, 1], got ${strength}`);
  return sigmas[Math.max(1, Math.round(strength * (sigmas.length - 1)))]!;
}
