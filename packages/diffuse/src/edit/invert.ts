// DDIM inversion and reconstruction (Song et al. 2021, sec. 4.3; Dhariwal & Nichol 2021, app. F):
// the deterministic DDIM ODE run up from an image to x_T (samplers/ddim.ts' ddimInvert), and
// DDIM sampling with the same steps run back down. The round trip is exact only in the limit of
// many steps: each inversion step uses ε̂ at its lower end, where sampling uses it at the upper.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { ddimInvert, sample, type DdimInvertOptions, type DiffusionModelSpec } from '../samplers/index.js';

/** Options of invert() and reconstruct(): DDIM steps, spacing and σ clamp (the same both ways), kwargs, progress. */
export type InversionOptions = DdimInvertOptions;

/**
 * Maps images to the x_T from which deterministic DDIM sampling returns them.
 * @param spec the model; @param images x_0 (B, C, H, W) in [−1, 1] (not consumed).
 * @returns x_T (B, C, H, W) at the top level τ_{N−1}.
 */
export function invert(spec: DiffusionModelSpec, images: Tensor, options: InversionOptions = {}): Tensor {
  // The model must see x̂_0 unclipped, or the ODE is not the one sampling reverses.
  return ddimInvert({ ...spec, clipDenoised: false }, images, options);
}

/**
 * Deterministic DDIM sampling from given x_T (the inverse of invert() with the same options).
 * @param spec the model; @param xT (B, C, H, W) (not consumed).
 * @returns x_0 (B, C, H, W).
 */
export function reconstruct(spec: DiffusionModelSpec, xT: Tensor, options: InversionOptions = {}): Tensor {
  return sample({ ...spec, clipDenoised: false }, xT.shape, {
    sampler: 'ddim', eta: 0, steps: options.steps, spacing: options.spacing, sigmaMax: options.sigmaMax,
    modelKwargs: options.modelKwargs, progress: options.progress, noise: xT, device: xT.device,
  });
}

/**
 * The round-trip error of inversion: mean squared error between images and reconstruct(invert(images)).
 * @returns the MSE per image (B,) as numbers.
 */
export function roundTripMse(spec: DiffusionModelSpec, images: Tensor, options: InversionOptions = {}): number[] {
  return torch.tidy(() => {
    const xT = invert(spec, images, options);
    const back = reconstruct(spec, xT, options);
    return Array.from(back.sub(images).square().flatten(1).mean([1]).data() as Float32Array);
  });
}
