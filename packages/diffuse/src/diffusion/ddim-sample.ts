// DDIM (Song et al. 2021): the non-Markovian reverse step of eq. 12, with σ_t(η) from eq. 16,
// and its deterministic (η = 0) inversion x_t → x_{t+1}.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import type { ModelFn } from './enums.js';
import type { GaussianDiffusion } from './gaussian-diffusion.js';
import { nonzeroMask } from './p-sample.js';
import { finalSample, reverseLoop } from './sample-loop.js';
import { timestepBatch } from './extract.js';
import type { DdimLoopOptions, DdimReverseLoopOptions, DdimStepOptions, ProgressiveStep, StepOutput } from './types.js';

/**
 * One DDIM step x_t → x_{t−1}.
 * @param diffusion the diffusion.
 * @param model the model.
 * @param x x_t (B, C, H, W).
 * @param t timesteps (B,).
 * @param options eta (default 0), clipDenoised (default true), denoisedFn, modelKwargs, generator, noise, condFn.
 * @returns sample x_{t−1} and predXstart.
 */
export function ddimSample(diffusion: GaussianDiffusion, model: ModelFn, x: Tensor, t: Tensor, options: DdimStepOptions = {}): StepOutput {
  const eta = options.eta ?? 0;
  return torch.tidy(() => {
    let out = diffusion.pMeanVariance(model, x, t, options);
    if (options.condFn) out = diffusion.conditionScore(options.condFn, out, x, t, options.modelKwargs);
    // 1. The ε implied by the (processed) x_0 prediction, so clipping and x_0/v models work alike.
    const eps = diffusion.predictEpsFromXstart(x, t, out.predXstart); // (B, C, H, W)
    const alphaBar = diffusion.extract(diffusion.alphasCumprod, t, x); // (B, 1, 1, 1)
    const alphaBarPrev = diffusion.extract(diffusion.alphasCumprodPrev, t, x);
    // 2. σ_t = η √((1 − ᾱ_{t−1}) / (1 − ᾱ_t)) √(1 − ᾱ_t / ᾱ_{t−1})   (eq. 16)
    const sigma = alphaBarPrev.rsub(1).div(alphaBar.rsub(1)).sqrt().mul(alphaBar.div(alphaBarPrev).rsub(1).sqrt()).mul(eta);
    // 3. x_{t−1} = √ᾱ_{t−1} x̂_0 + √(1 − ᾱ_{t−1} − σ²) ε + σ z   (eq. 12)
    const meanPred = out.predXstart.mul(alphaBarPrev.sqrt()).add(alphaBarPrev.rsub(1).sub(sigma.square()).sqrt().mul(eps));
    const noise = options.noise ?? torch.randnLike(x, { generator: options.generator }); // (B, C, H, W)
    return { sample: meanPred.add(nonzeroMask(t, x).mul(sigma).mul(noise)), predXstart: out.predXstart };
  });
}

/**
 * One deterministic DDIM inversion step x_t → x_{t+1} (the ODE run forward).
 * @param diffusion the diffusion.
 * @param model the model.
 * @param x x_t (B, C, H, W).
 * @param t timesteps (B,).
 * @param options clipDenoised (default true), denoisedFn, modelKwargs; eta must be 0.
 * @returns sample x_{t+1} and predXstart.
 */
export function ddimReverseSample(diffusion: GaussianDiffusion, model: ModelFn, x: Tensor, t: Tensor, options: DdimStepOptions = {}): StepOutput {
  if ((options.eta ?? 0) !== 0) throw new RangeError('ddimReverseSample: the reverse ODE is only for deterministic paths (eta must be 0)');
  return torch.tidy(() => {
    const out = diffusion.pMeanVariance(model, x, t, options);
    const eps = diffusion.predictEpsFromXstart(x, t, out.predXstart); // (B, C, H, W)
    const alphaBarNext = diffusion.extract(diffusion.alphasCumprodNext, t, x); // (B, 1, 1, 1)
    const sample = out.predXstart.mul(alphaBarNext.sqrt()).add(alphaBarNext.rsub(1).sqrt().mul(eps));
    return { sample, predXstart: out.predXstart };
  });
}

/**
 * DDIM sampling from x_T to x_0, yielding each step (tensors live until the loop resumes).
 * @param options eta, noise (x_T), clipDenoised, denoisedFn, modelKwargs, generator, condFn, progress, dtype, device.
 */
export function ddimSampleLoopProgressive(
  diffusion: GaussianDiffusion,
  model: ModelFn,
  shape: number[],
  options: DdimLoopOptions = {},
): Generator<ProgressiveStep, void, undefined> {
  const { clipDenoised, denoisedFn, modelKwargs, generator, condFn, eta } = options;
  return reverseLoop(diffusion.numTimesteps, shape, options, (x, t) =>
    ddimSample(diffusion, model, x, t, { clipDenoised, denoisedFn, modelKwargs, generator, condFn, eta }));
}

/**
 * DDIM sampling from x_T to x_0.
 * @returns x_0 (B, C, H, W), owned by the caller.
 */
export function ddimSampleLoop(diffusion: GaussianDiffusion, model: ModelFn, shape: number[], options: DdimLoopOptions = {}): Tensor {
  return finalSample(ddimSampleLoopProgressive(diffusion, model, shape, options));
}

/**
 * Deterministic DDIM inversion: runs ddimReverseSample for t = 0 … T−1 (as DDIB and
 * improved-diffusion-based editing do), mapping x_0 to an x_T that ddimSampleLoop (η = 0) maps
 * back to x_0 up to the ODE's discretization error (first order in 1/T). The first step treats
 * x_0 as x at t = 0 and the last lands on ᾱ = 0, so the round trip is never exact.
 * @param xStart x_0 (B, C, H, W).
 * @param options clipDenoised (default true; false for an exact inverse), denoisedFn, modelKwargs, progress.
 * @returns x_T (B, C, H, W), owned by the caller.
 */
export function ddimReverseSampleLoop(diffusion: GaussianDiffusion, model: ModelFn, xStart: Tensor, options: DdimReverseLoopOptions = {}): Tensor {
  const T = diffusion.numTimesteps;
  const { clipDenoised, denoisedFn, modelKwargs } = options;
  let x = xStart;
  for (let i = 0; i < T; i++) {
    const next = torch.noGrad(() => torch.tidy(() =>
      ddimReverseSample(diffusion, model, x, timestepBatch(x.shape[0]!, i, x.device), { clipDenoised, denoisedFn, modelKwargs }).sample));
    if (x !== xStart) x.dispose();
    x = next;
    options.progress?.(i + 1, T);
  }
  return x === xStart ? xStart.clone() : x;
}
