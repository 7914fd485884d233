// Likelihood pieces of the variational bound (improved-diffusion's losses.py): the Gaussian KL
// of L_{t-1}, the discretized decoder likelihood of L_0, and mean_flat.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

/**
 * The mean over all non-batch dimensions.
 * @param x (B, ...).
 * @returns (B,).
 */
export function meanFlat(x: Tensor): Tensor {
  if (x.ndim <= 1) return x.clone();
  return x.mean(Array.from({ length: x.ndim - 1 }, (_, i) => i + 1)); // (B,)
}

function asTensor(v: Tensor | number, like: Tensor): Tensor {
  return typeof v === 'number' ? torch.scalarTensor(v, { dtype: like.dtype, device: like.device }) : v;
}

/**
 * KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)), elementwise, in nats. Scalars broadcast (e.g.
 * mean2 = 0, logvar2 = 0 for the prior).
 * @param mean1 the first mean (any shape).
 * @param logvar1 the first log-variance.
 * @param mean2 the second mean.
 * @param logvar2 the second log-variance.
 * @returns the KL, broadcast shape of the inputs.
 */
export function normalKl(mean1: Tensor, logvar1: Tensor | number, mean2: Tensor | number, logvar2: Tensor | number): Tensor {
  return torch.tidy(() => {
    const lv1 = asTensor(logvar1, mean1);
    const lv2 = asTensor(logvar2, mean1);
    const m2 = asTensor(mean2, mean1);
    // 0.5 · (−1 + logσ₂² − logσ₁² + σ₁²/σ₂² + (μ₁ − μ₂)²/σ₂²)
    const varRatio = lv1.sub(lv2).exp();
    const meanTerm = mean1.sub(m2).square().mul(lv2.neg().exp());
    return lv2.sub(lv1).add(varRatio).add(meanTerm).sub(1).mul(0.5);
  });
}

/**
 * A fast approximation of the standard normal CDF (the tanh form of GELU's, as improved-diffusion):
 * Φ(x) ≈ ½(1 + tanh(√(2/π)(x + 0.044715 x³))).
 * @param x any shape.
 * @returns Φ(x), same shape.
 */
export function approxStandardNormalCdf(x: Tensor): Tensor {
  return torch.tidy(() => x.pow(3).mul(0.044715).add(x).mul(Math.sqrt(2 / Math.PI)).tanh().add(1).mul(0.5));
}

/**
 * Log-likelihood of a Gaussian discretized to 256 bins over [−1, 1] (Ho et al. 2020's decoder
 * L_0): the edge bins extend to ±∞.
 * @param x the target images, uint8 values rescaled to [−1, 1] (B, C, H, W).
 * @param means the Gaussian means (same shape).
 * @param logScales the Gaussian log standard deviations (same shape).
 * @returns log-probabilities in nats, x's shape.
 */
export function discretizedGaussianLogLikelihood(x: Tensor, means: Tensor, logScales: Tensor): Tensor {
  return torch.tidy(() => {
    const centered = x.sub(means);
    const invStdv = logScales.neg().exp();
    // CDF at the bin's upper and lower edges (bins are 2/255 wide).
    const cdfPlus = approxStandardNormalCdf(centered.add(1 / 255).mul(invStdv));
    const cdfMin = approxStandardNormalCdf(centered.sub(1 / 255).mul(invStdv));
    const logCdfPlus = cdfPlus.clampMin(1e-12).log();
    const logOneMinusCdfMin = cdfMin.rsub(1).clampMin(1e-12).log();
    const logCdfDelta = cdfPlus.sub(cdfMin).clampMin(1e-12).log();
    const inner = torch.where(x.gt(0.999), logOneMinusCdfMin, logCdfDelta);
    return torch.where(x.lt(-0.999), logCdfPlus, inner);
  });
}
