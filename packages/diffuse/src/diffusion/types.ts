// Option and result shapes of GaussianDiffusion's methods (improved-diffusion's keyword
// arguments and returned dicts, in camelCase).
import type { DType, Device, Generator, Tensor } from '@diffuse/torch';
import type { LossType, ModelKwargs, ModelMeanType, ModelVarType } from './enums.js';

/** Constructor options of GaussianDiffusion. */
export interface GaussianDiffusionOptions {
  /** β_1..β_T (float64 is kept; see schedules.ts). */
  betas: ArrayLike<number>;
  modelMeanType: ModelMeanType;
  modelVarType: ModelVarType;
  lossType: LossType;
  /** Pass t·1000/T (float32) to the model instead of t, so models see [0, 1000) for any T. */
  rescaleTimesteps?: boolean;
  /**
   * min-SNR-γ loss weighting (Hang et al. 2023): the simple term is weighted by min(SNR, γ)/SNR
   * (ε), min(SNR, γ) (x_0) or min(SNR, γ)/(SNR + 1) (v). Typical γ = 5. Not for PREVIOUS_X.
   */
  minSnrGamma?: number;
}

/** Applied to the x_0 prediction before it is used (e.g. dynamic thresholding). */
export type DenoisedFn = (predXstart: Tensor) => Tensor;

/**
 * Classifier guidance: the gradient ∇_x log p(y | x_t) (B, C, H, W), given x_t, the model-time
 * timesteps and the model kwargs (guided-diffusion's cond_fn). It runs inside the sampler's
 * no-grad scope, so it enables grad itself (torch.enableGrad).
 */
export type CondFn = (x: Tensor, t: Tensor, kwargs: ModelKwargs) => Tensor;

/** Options of pMeanVariance. */
export interface PMeanVarianceOptions {
  /** Clamp the x_0 prediction to [−1, 1] (default true, as improved-diffusion). */
  clipDenoised?: boolean;
  /** Applied to the x_0 prediction before clipping. */
  denoisedFn?: DenoisedFn;
  /** Extra model inputs (class labels, ...). */
  modelKwargs?: ModelKwargs;
}

/** p(x_{t−1} | x_t) and the prediction of x_0; every tensor is x's shape. */
export interface PMeanVarianceResult {
  mean: Tensor;
  variance: Tensor;
  logVariance: Tensor;
  predXstart: Tensor;
  /** The model's raw prediction for its mean parameterization (the variance channels split off). */
  modelOutput: Tensor;
}

/** A Gaussian over x's shape: the forward marginal q(x_t | x_0) or the posterior q(x_{t−1} | x_t, x_0). */
export interface GaussianResult {
  mean: Tensor;
  variance: Tensor;
  /** log variance (for the posterior: clipped at t = 0, see posteriorLogVarianceClipped). */
  logVariance: Tensor;
}

/** Options of one sampling step. */
export interface SampleStepOptions extends PMeanVarianceOptions {
  /** Draws the step's noise (default: the global generator). */
  generator?: Generator;
  /** The step's noise (x's shape) instead of a draw. */
  noise?: Tensor;
  /** Classifier guidance (guided-diffusion's condition_mean / condition_score). */
  condFn?: CondFn;
}

/** Options of one DDIM step. */
export interface DdimStepOptions extends SampleStepOptions {
  /** η: 0 is deterministic DDIM, 1 matches DDPM's variance (Song et al. 2021, eq. 16). Default 0. */
  eta?: number;
}

/** What one reverse step returns. */
export interface StepOutput {
  sample: Tensor;
  predXstart: Tensor;
}

/** What the progressive loops yield: valid until the loop is resumed or closed (clone to keep). */
export interface ProgressiveStep extends StepOutput {
  /** The timestep this step started from (T−1 first, 0 last). */
  t: number;
}

/** Options of the sampling loops. */
export interface SampleLoopOptions extends PMeanVarianceOptions {
  /** x_T; drawn from N(0, I) with `generator` when absent. The caller keeps ownership. */
  noise?: Tensor;
  generator?: Generator;
  /** Called after each step with (steps done, total steps). */
  progress?: (done: number, total: number) => void;
  condFn?: CondFn;
  /** dtype of the drawn x_T (default float32); ignored when noise is given. */
  dtype?: DType;
  /** device of the drawn x_T (default cpu); ignored when noise is given. */
  device?: Device;
}

/** Options of the DDIM loops. */
export interface DdimLoopOptions extends SampleLoopOptions {
  eta?: number;
}

/** Options of the deterministic DDIM inversion loop. */
export interface DdimReverseLoopOptions extends PMeanVarianceOptions {
  progress?: (done: number, total: number) => void;
}

/** Options of trainingLosses. */
export interface TrainingLossOptions {
  modelKwargs?: ModelKwargs;
  /** The ε to add (x_start's shape); drawn with `generator` when absent. */
  noise?: Tensor;
  generator?: Generator;
}

/** Per-example losses, each (B,). */
export interface TrainingLosses {
  /** What to minimize (weight by the schedule sampler's weights, then average). */
  loss: Tensor;
  /** The simple term (squared error, or L1/Huber for those loss types), before min-SNR weighting. */
  mse?: Tensor;
  /** The variational-bound term in bits/dim (learned variance only). */
  vb?: Tensor;
}

/** A term of the variational bound. */
export interface VbTerms {
  /** KL(q ‖ p) for t > 0 and the decoder NLL for t = 0, in bits/dim (B,). */
  output: Tensor;
  predXstart: Tensor;
}

/** Options of vbTermsBpd and calcBpdLoop. */
export interface BpdOptions {
  /** Default true, as improved-diffusion. */
  clipDenoised?: boolean;
  modelKwargs?: ModelKwargs;
}

/** The whole variational bound of a batch (improved-diffusion's calc_bpd_loop). */
export interface BpdResult {
  /** Σ_t vb + prior, bits/dim (B,). */
  totalBpd: Tensor;
  /** KL(q(x_T | x_0) ‖ N(0, I)), bits/dim (B,). */
  priorBpd: Tensor;
  /** The terms L_{T−1}..L_0 (B, T): column 0 is t = T−1, as improved-diffusion stacks them. */
  vb: Tensor;
  /** Mean squared error of the x_0 prediction, (B, T), same column order. */
  xstartMse: Tensor;
  /** Mean squared error of the implied ε, (B, T), same column order. */
  mse: Tensor;
}
