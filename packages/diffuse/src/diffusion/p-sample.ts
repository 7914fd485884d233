// Ancestral sampling (Ho et al. 2020, Algorithm 2): x_{t−1} = μ_θ(x_t, t) + σ_t z, z ~ N(0, I),
// with no noise at the last step.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import type { ModelFn } from './enums.js';
import type { GaussianDiffusion } from './gaussian-diffusion.js';
import { finalSample, reverseLoop } from './sample-loop.js';
import type { ProgressiveStep, SampleLoopOptions, SampleStepOptions, StepOutput } from './types.js';

/** 1 where t ≠ 0, 0 at the last step, shaped (B, 1, ..., 1) like x: no noise is added at t = 0. */
export function nonzeroMask(t: Tensor, like: Tensor): Tensor {
  return torch.tidy(() => t.ne(0).to(like.dtype).view([t.shape[0]!, ...new Array<number>(like.ndim - 1).fill(1)]));
}

/**
 * Samples x_{t−1} from the model at timestep t.
 * @param diffusion the diffusion.
 * @param model the model.
 * @param x x_t (B, C, H, W).
 * @param t timesteps (B,), 0 for the last step.
 * @param options clipDenoised (default true), denoisedFn, modelKwargs, generator, noise, condFn.
 * @returns sample x_{t−1} and predXstart, (B, C, H, W) each.
 */
export function pSample(diffusion: GaussianDiffusion, model: ModelFn, x: Tensor, t: Tensor, options: SampleStepOptions = {}): StepOutput {
  return torch.tidy(() => {
    const out = diffusion.pMeanVariance(model, x, t, options);
    const mean = options.condFn ? diffusion.conditionMean(options.condFn, out, x, t, options.modelKwargs) : out.mean;
    const noise = options.noise ?? torch.randnLike(x, { generator: options.generator }); // (B, C, H, W)
    const sigma = out.logVariance.mul(0.5).exp(); // (B, C, H, W)
    return { sample: mean.add(nonzeroMask(t, x).mul(sigma).mul(noise)), predXstart: out.predXstart };
  });
}

/**
 * Ancestral sampling from x_T ~ N(0, I) down to x_0, yielding each step; the yielded tensors are
 * disposed when the loop resumes, so clone what you keep.
 * @param diffusion the diffusion.
 * @param model the model.
 * @param shape (B, C, H, W).
 * @param options noise (x_T), clipDenoised, denoisedFn, modelKwargs, generator, condFn, progress, dtype, device.
 */
export function pSampleLoopProgressive(
  diffusion: GaussianDiffusion,
  model: ModelFn,
  shape: number[],
  options: SampleLoopOptions = {},
): Generator<ProgressiveStep, void, undefined> {
  const { clipDenoised, denoisedFn, modelKwargs, generator, condFn } = options;
  return reverseLoop(diffusion.numTimesteps, shape, options, (x, t) =>
    pSample(diffusion, model, x, t, { clipDenoised, denoisedFn, modelKwargs, generator, condFn }));
}

/**
 * Ancestral sampling from x_T to x_0.
 * @returns x_0 (B, C, H, W), owned by the caller.
 */
export function pSampleLoop(diffusion: GaussianDiffusion, model: ModelFn, shape: number[], options: SampleLoopOptions = {}): Tensor {
  return finalSample(pSampleLoopProgressive(diffusion, model, shape, options));
}
