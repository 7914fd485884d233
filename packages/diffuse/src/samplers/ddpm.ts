// Ancestral sampling, Ho et al. 2020 Algorithm 2, with improved-diffusion's posterior and
// variances (Nichol & Dhariwal 2021), over all T timesteps or a strided subset of them.
// Respacing (improved-diffusion's SpacedDiffusion): the kept timesteps τ_0 < … < τ_{N−1} form a
// shorter chain with ᾱ'_k = ᾱ_{τ_k} and β'_k = 1 − ᾱ'_k / ᾱ'_{k−1} (ᾱ'_{−1} = 1); the model is
// still called at the original τ_k.
import type { Tensor } from '@diffuse/torch';
import { ModelMeanType, ModelVarType } from '../diffusion/enums.js';
import { conditionMean, guidanceGradient } from '../guidance/classifier.js';
import { modelTimesteps, predictionFromOutput, runModel } from './denoiser.js';
import { gaussianLike } from './noise.js';
import { respacedBetasFromAlphasCumprod } from '../diffusion/respace.js';
import { computeDiffusionTables } from '../diffusion/tables.js';
import { DiscreteSigmas } from './sigmas.js';
import { samplerTimesteps, timestepRange, type TimestepSpacing } from './timesteps.js';
import { VP_STATE, type SamplerContext, type SamplerRun, type StepResult } from './types.js';

/** The respaced chain's constants, k = 0..N−1 (float64). */
export interface RespacedPosterior {
  /** The kept original timesteps τ_k, ascending. */
  timesteps: number[];
  /** β'_k. */
  betas: Float64Array;
  /** β̃'_k = β'_k (1−ᾱ'_{k−1}) / (1−ᾱ'_k), the variance of q(x_{k−1} | x_k, x_0) (Ho eq. 7). */
  posteriorVariance: Float64Array;
  /** log β̃'_k with k = 0 replaced by k = 1 (β̃'_0 = 0), as improved-diffusion clips it. */
  posteriorLogVarianceClipped: Float64Array;
  /** Coefficient of x_0 in the posterior mean: β'_k √ᾱ'_{k−1} / (1−ᾱ'_k) (Ho eq. 7). */
  posteriorMeanCoef1: Float64Array;
  /** Coefficient of x_k in the posterior mean: (1−ᾱ'_{k−1}) √α'_k / (1−ᾱ'_k) (Ho eq. 7). */
  posteriorMeanCoef2: Float64Array;
}

/**
 * The posterior q(x_{k−1} | x_k, x_0) of the chain restricted to the given timesteps.
 * @param alphasCumprod ᾱ_t of the full schedule; @param timesteps kept τ_k, ascending.
 * @returns the respaced constants.
 */
export function respacedPosterior(alphasCumprod: Float64Array, timesteps: number[]): RespacedPosterior {
  // β'_k = 1 − ᾱ_{τ_k} / ᾱ_{τ_{k−1}} (respace.ts), then the usual posterior tables (tables.ts).
  const betas = respacedBetasFromAlphasCumprod(alphasCumprod, timesteps);
  const t = computeDiffusionTables(betas);
  return {
    timesteps,
    betas,
    posteriorVariance: t.posteriorVariance,
    posteriorLogVarianceClipped: t.posteriorLogVarianceClipped,
    posteriorMeanCoef1: t.posteriorMeanCoef1,
    posteriorMeanCoef2: t.posteriorMeanCoef2,
  };
}

/** DDPM options. */
export interface DdpmOptions {
  /** Steps N ≤ T (default T, the full chain). */
  steps?: number;
  /** Which timesteps to keep when N < T (default 'uniform'). */
  spacing?: TimestepSpacing;
  /**
   * Keep only timesteps with σ_t = √((1−ᾱ)/ᾱ) ≤ σ_max: the chain then starts below the top (SDEdit
   * starts it at an image noised to that level); N defaults to all the timesteps left.
   */
  sigmaMax?: number;
}

/**
 * Prepares ancestral sampling.
 * @param ctx the model, kwargs, generator and optional classifier guidance.
 * @param options steps and spacing.
 * @returns a run of N steps, from x_T = z to x_0.
 */
export function ddpm(ctx: SamplerContext, options: DdpmOptions = {}): SamplerRun {
  const { spec, modelKwargs, generator, classifier } = ctx;
  const T = spec.alphasCumprod.length;
  const sched = new DiscreteSigmas(spec.alphasCumprod);
  const range = timestepRange(sched.sigmas, undefined, options.sigmaMax);
  const timesteps = samplerTimesteps(T, options.steps ?? range[1] + 1, options.spacing, range);
  const N = timesteps.length;
  if (spec.meanType === ModelMeanType.PREVIOUS_X && N !== T) {
    throw new Error(`a previous_x model predicts x_{t-1} of its own ${T}-step chain: sample it with all ${T} steps (got ${N})`);
  }
  const post = respacedPosterior(spec.alphasCumprod, timesteps);

  /** log σ² of step k, a number for fixed variances or a tensor for learned ones. */
  const logVariance = (k: number, varValues: Tensor | null): Tensor | number => {
    switch (spec.varType) {
      case ModelVarType.LEARNED:
        return varValues!; // the model's log σ²
      case ModelVarType.LEARNED_RANGE: {
        // Nichol & Dhariwal eq. 15: log σ² = u log β + (1−u) log β̃, with u = (v+1)/2.
        const maxLog = Math.log(post.betas[k]!);
        const minLog = post.posteriorLogVarianceClipped[k]!;
        return varValues!.add(1).mul((maxLog - minLog) / 2).add(minLog);
      }
      case ModelVarType.FIXED_SMALL:
        return post.posteriorLogVarianceClipped[k]!;
      case ModelVarType.FIXED_LARGE:
        // σ² = β, but β̃_1 at k = 0 for a finite decoder log-likelihood (improved-diffusion).
        return k === 0 ? post.posteriorLogVarianceClipped[0]! : Math.log(post.betas[k]!);
    }
  };

  return {
    total: N,
    sigmaAt: (i) => (i < N ? sched.sigmas[timesteps[N - 1 - i]!]! : 0), // the chain ends at x_0
    ...VP_STATE,
    step(i: number, x: Tensor): StepResult {
      const k = N - 1 - i;
      // 1. Run the model at the original timestep τ_k.
      const tModel = modelTimesteps(spec, timesteps[k]!, x.size(0), x.device); // (B,)
      const { out, varValues } = runModel(spec, x, tModel, modelKwargs);
      // 2. Mean of p(x_{k−1} | x_k): the posterior mean at x̂_0 (Ho eq. 7, improved-diffusion's
      //    q_posterior_mean_variance), or the model's own x_{t−1} for PREVIOUS_X.
      let x0: Tensor;
      let mean: Tensor;
      if (spec.meanType === ModelMeanType.PREVIOUS_X) {
        mean = out; // (B, C, H, W)
        x0 = mean.sub(x.mul(post.posteriorMeanCoef2[k]!)).div(post.posteriorMeanCoef1[k]!); // (B, C, H, W)
        if (spec.clipDenoised === true) x0 = x0.clamp(-1, 1);
      } else {
        x0 = predictionFromOutput(spec, x, out, spec.alphasCumprod[timesteps[k]!]!).x0; // (B, C, H, W)
        mean = x0.mul(post.posteriorMeanCoef1[k]!).add(x.mul(post.posteriorMeanCoef2[k]!)); // (B, C, H, W)
      }
      // 3. Variance σ_k² of the step (fixed, or from the model's extra channels).
      const logVar = logVariance(k, varValues);
      // 4. Classifier guidance shifts the mean by s σ² ∇ log p(y | x_k) (Dhariwal & Nichol Alg. 1).
      if (classifier !== undefined) {
        const variance = typeof logVar === 'number' ? Math.exp(logVar) : logVar.exp();
        mean = conditionMean(mean, variance, guidanceGradient(classifier, x, tModel, modelKwargs));
      }
      // 5. x_{k−1} = μ + σ z (Alg. 2, line 4), with no noise on the last step.
      if (k === 0) return { x: mean, x0 };
      const z = gaussianLike(x, generator); // (B, C, H, W)
      const std = typeof logVar === 'number' ? z.mul(Math.exp(0.5 * logVar)) : z.mul(logVar.mul(0.5).exp());
      return { x: mean.add(std), x0 };
    },
  };
}
