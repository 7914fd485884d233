// improved-diffusion's enums (gaussian_diffusion.py), with v-prediction and robust simple losses.
import type { Tensor } from '@diffuse/torch';

/** What the model predicts (its mean parameterization). */
export enum ModelMeanType {
  /** x_{t-1} (the posterior mean itself). */
  PREVIOUS_X = 'previous_x',
  /** x_0. */
  START_X = 'start_x',
  /** ε, the noise added (Ho et al. 2020). */
  EPSILON = 'epsilon',
  /** v = √ᾱ ε − √(1−ᾱ) x_0 (Salimans & Ho 2022, progressive distillation). */
  VELOCITY = 'v',
}

/** How the reverse-process variance is chosen. */
export enum ModelVarType {
  /** The model outputs log σ² directly (extra output channels). */
  LEARNED = 'learned',
  /** σ² = β̃_t, the posterior variance (with its t=0 value fixed, as improved-diffusion). */
  FIXED_SMALL = 'fixed_small',
  /** σ² = β_t (with β̃_1 at t=0 for a finite log). */
  FIXED_LARGE = 'fixed_large',
  /** The model outputs v ∈ [-1, 1]; log σ² interpolates log β_t and log β̃_t (Nichol & Dhariwal eq. 15). */
  LEARNED_RANGE = 'learned_range',
}

/** The training objective. */
export enum LossType {
  /** Plain MSE of the model's target (and the VB term when the variance is learned). */
  MSE = 'mse',
  /** MSE plus the VB term scaled by T/1000 (improved-diffusion's hybrid loss). */
  RESCALED_MSE = 'rescaled_mse',
  /** The variational bound. */
  KL = 'kl',
  /** The variational bound scaled by T. */
  RESCALED_KL = 'rescaled_kl',
  /** L1 distance for the simple term (The Annotated Diffusion Model). */
  L1 = 'l1',
  /** Huber (smooth L1, δ = 1) for the simple term. */
  HUBER = 'huber',
}

/** True for the losses that are the variational bound itself. */
export function isVb(loss: LossType): boolean {
  return loss === LossType.KL || loss === LossType.RESCALED_KL;
}

/** Extra model inputs, e.g. `{ y }` class labels (int64, (B,)). */
export type ModelKwargs = Record<string, Tensor | undefined>;

/**
 * A diffusion model as the diffusion code sees it: noisy images x (B, C, H, W) and timesteps
 * t (B,) in, an output (B, C or 2C, H, W) out. t holds the *original* (unspaced) timesteps, as
 * float32 scaled to [0, 1000) when the diffusion rescales timesteps.
 */
export type ModelFn = (x: Tensor, t: Tensor, kwargs: ModelKwargs) => Tensor;
