// Training objectives (improved-diffusion's training_losses): the simple loss of Ho et al. on the
// model's target (ε, x_0, x_{t−1} or v), optionally min-SNR-weighted, L1 or Huber; the hybrid
// loss L_simple + λ L_vlb when the variance is learned; or the bound itself.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { isVb, LossType, ModelMeanType, type ModelFn } from './enums.js';
import { vbTermFromMeanVariance, vbTermsBpd } from './bpd.js';
import type { GaussianDiffusion } from './gaussian-diffusion.js';
import { meanFlat } from './losses.js';
import { vFromXstartEps } from './parameterization.js';
import type { TrainingLosses, TrainingLossOptions } from './types.js';

/** The tensor the model is trained to output, for its mean parameterization. */
function targetFor(diffusion: GaussianDiffusion, xStart: Tensor, xT: Tensor, t: Tensor, noise: Tensor): Tensor {
  switch (diffusion.modelMeanType) {
    case ModelMeanType.PREVIOUS_X: return diffusion.qPosteriorMeanVariance(xStart, xT, t).mean;
    case ModelMeanType.START_X: return xStart;
    case ModelMeanType.EPSILON: return noise;
    case ModelMeanType.VELOCITY: return vFromXstartEps(xStart, noise, diffusion.extract(diffusion.alphasCumprod, t, xStart));
  }
}

/** Elementwise distance of the simple term: squared error, or L1 / Huber (δ = 1). */
function simpleDistance(lossType: LossType, target: Tensor, prediction: Tensor): Tensor {
  switch (lossType) {
    case LossType.L1: return target.sub(prediction).abs();
    case LossType.HUBER: return torch.huberLoss(prediction, target, 'none', 1);
    default: return target.sub(prediction).square();
  }
}

/**
 * Computes training losses for one timestep per example.
 * @param diffusion the diffusion.
 * @param model the model (gradients flow through it).
 * @param xStart x_0 (B, C, H, W).
 * @param t timesteps (B,), e.g. from a ScheduleSampler.
 * @param options modelKwargs, noise (the ε to remove), generator.
 * @returns loss (B,), and for the simple losses mse (the simple term, unweighted) and, with a
 *   learned variance, vb (B,).
 */
export function trainingLosses(
  diffusion: GaussianDiffusion,
  model: ModelFn,
  xStart: Tensor,
  t: Tensor,
  options: TrainingLossOptions = {},
): TrainingLosses {
  const modelKwargs = options.modelKwargs ?? {};
  return torch.tidy(() => {
    const noise = options.noise ?? torch.randnLike(xStart, { generator: options.generator }); // (B, C, H, W)
    const xT = diffusion.qSample(xStart, t, noise); // (B, C, H, W)
    if (isVb(diffusion.lossType)) {
      const vb = vbTermsBpd(diffusion, model, xStart, xT, t, { clipDenoised: false, modelKwargs }).output; // (B,)
      return { loss: diffusion.lossType === LossType.RESCALED_KL ? vb.mul(diffusion.numTimesteps) : vb };
    }
    const output = diffusion.wrapModel(model)(xT, t, modelKwargs); // (B, C or 2C, H, W)
    let modelOutput = output;
    let vb: Tensor | undefined;
    if (diffusion.learnsSigma) {
      const C = xStart.shape[1]!;
      const [meanPart, varValues] = output.split(C, 1) as [Tensor, Tensor]; // (B, C, H, W) each
      modelOutput = meanPart;
      // Learn the variance with the bound, but don't let the bound move the mean prediction.
      const frozenOut = torch.cat([meanPart.detach(), varValues], 1); // (B, 2C, H, W)
      const out = diffusion.pMeanVarianceFromOutput(frozenOut, xT, t, { clipDenoised: false });
      vb = vbTermFromMeanVariance(diffusion, out, xStart, xT, t); // (B,)
      // improved-diffusion divides by 1000 "for equivalence with the initial implementation".
      if (diffusion.lossType === LossType.RESCALED_MSE) vb = vb.mul(diffusion.numTimesteps / 1000);
    }
    const target = targetFor(diffusion, xStart, xT, t, noise);
    if (target.shape.join() !== modelOutput.shape.join()) throw new RangeError(`model output [${modelOutput.shape}] does not match its target [${target.shape}]`);
    const simple = meanFlat(simpleDistance(diffusion.lossType, target, modelOutput)); // (B,)
    const weighted = diffusion.lossWeights ? simple.mul(diffusion.extract(diffusion.lossWeights, t, simple)) : simple;
    // loss gets its own handle even when it equals mse, so the two can be disposed independently.
    const loss = vb ? weighted.add(vb) : weighted === simple ? torch.call<Tensor>('aten::alias', [simple]) : weighted;
    return vb ? { loss, mse: simple, vb } : { loss, mse: simple };
  });
}
