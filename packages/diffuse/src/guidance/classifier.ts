// Classifier guidance (Dhariwal & Nichol 2021, "Diffusion Models Beat GANs", Alg. 1 and 2):
// steer an unconditional model with ∇_x log p_φ(y | x_t, t) from a classifier trained on noisy
// images. guided-diffusion applies it in two places, kept here as two functions:
//   condition_mean  (ancestral DDPM):  μ ← μ + s Σ ∇_x log p_φ(y | x_t)             (Alg. 1)
//   condition_score (DDIM and ε-based): ε ← ε − s √(1−ᾱ_t) ∇_x log p_φ(y | x_t)      (Alg. 2)
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import type { ModelKwargs } from '../diffusion/enums.js';

/**
 * ∇_x log p(y | x_t, t) for each image of the batch.
 * @param x the noisy images x_t (B, C, H, W), in the model's (VP) scale.
 * @param t the timesteps (B,) as the model sees them (rescaled when the model is; may be fractional).
 * @param kwargs the sampling kwargs, e.g. `{ y }` the wanted labels.
 * @returns the gradient (B, C, H, W).
 */
export type ClassifierGradFn = (x: Tensor, t: Tensor, kwargs: ModelKwargs) => Tensor;

/** Classifier guidance for `sample(..., { guidance })`. */
export interface ClassifierGuidance {
  kind: 'classifier';
  /** ∇_x log p(y | x_t, t); see classifierGradient to build it from a classifier's logits. */
  gradFn: ClassifierGradFn;
  /** The guidance scale s (1 = the plain Bayes rule; larger sharpens p(y|x)^s). */
  scale: number;
}

/**
 * Builds the gradient function of a noisy-image classifier by autograd (guided-diffusion's
 * cond_fn, without the scale): ∇_x log softmax(classifier(x, t))[y].
 * @param classifier logits (B, K) from noisy images (B, C, H, W) and timesteps (B,).
 * @param labelKey the kwargs entry holding the wanted labels y (B,) int64 (default 'y').
 * @returns a ClassifierGradFn.
 */
export function classifierGradient(
  classifier: (x: Tensor, t: Tensor, kwargs: ModelKwargs) => Tensor,
  labelKey = 'y',
): ClassifierGradFn {
  return (x, t, kwargs) => {
    const y = kwargs[labelKey];
    if (y === undefined) throw new Error(`classifier guidance: model kwargs have no '${labelKey}' labels`);
    return torch.tidy(() =>
      torch.enableGrad(() => {
        const xIn = x.detach().requiresGrad_(true); // (B, C, H, W)
        const logProbs = classifier(xIn, t, kwargs).logSoftmax(-1); // (B, K)
        const selected = logProbs.gather(1, y.long().reshape([-1, 1])).sum(); // ()
        const [g] = torch.autograd.grad(selected, xIn);
        return g!.detach(); // (B, C, H, W)
      }),
    );
  };
}

/**
 * The guidance term s ∇_x log p(y | x_t, t) (guided-diffusion's cond_fn output).
 * @param guidance the gradient function and scale s.
 * @param x x_t (B, C, H, W); @param t the model's timesteps (B,); @param kwargs the model kwargs.
 * @returns (B, C, H, W).
 */
export function guidanceGradient(guidance: ClassifierGuidance, x: Tensor, t: Tensor, kwargs: ModelKwargs): Tensor {
  return torch.tidy(() => guidance.gradFn(x, t, kwargs).mul(guidance.scale));
}

/**
 * guided-diffusion's condition_mean: μ ← μ + Σ · s ∇_x log p(y|x_t).
 * @param mean μ_θ(x_t, t) (B, C, H, W); @param variance Σ, a tensor broadcastable to it or a number.
 * @param scaledGrad s ∇_x log p(y|x_t) from guidanceGradient (B, C, H, W).
 * @returns the shifted mean (B, C, H, W).
 */
export function conditionMean(mean: Tensor, variance: Tensor | number, scaledGrad: Tensor): Tensor {
  return torch.tidy(() => mean.add(scaledGrad.mul(variance)));
}

/**
 * guided-diffusion's condition_score: ε ← ε − √(1−ᾱ_t) · s ∇_x log p(y|x_t), the score of
 * p(x_t) p(y|x_t)^s written as a noise prediction (the score is −ε/√(1−ᾱ)).
 * @param eps ε_θ(x_t, t) (B, C, H, W); @param alphaBar ᾱ_t of x_t.
 * @param scaledGrad s ∇_x log p(y|x_t) from guidanceGradient (B, C, H, W).
 * @returns the shifted ε (B, C, H, W).
 */
export function conditionScore(eps: Tensor, alphaBar: number, scaledGrad: Tensor): Tensor {
  return torch.tidy(() => eps.sub(scaledGrad.mul(Math.sqrt(1 - alphaBar))));
}
