// Conversions between what a model may predict: ε, x_0 and v, given ᾱ_t.
// x_t = √ᾱ x_0 + √(1−ᾱ) ε (Ho et al. 2020, eq. 4); v = √ᾱ ε − √(1−ᾱ) x_0 (Salimans & Ho 2022).
// alphaBar is a tensor broadcastable to x (e.g. (B, 1, 1, 1)); one place for these formulas, used
// by GaussianDiffusion and by every sampler.
import type { Tensor } from '@diffuse/torch';
import * as torch from '@diffuse/torch';

/** x_0 = (x_t − √(1−ᾱ) ε) / √ᾱ. */
export function xstartFromEps(xT: Tensor, eps: Tensor, alphaBar: Tensor): Tensor {
  return torch.tidy(() => xT.sub(alphaBar.rsub(1).sqrt().mul(eps)).div(alphaBar.sqrt()));
}

/** ε = (x_t − √ᾱ x_0) / √(1−ᾱ). */
export function epsFromXstart(xT: Tensor, xStart: Tensor, alphaBar: Tensor): Tensor {
  return torch.tidy(() => xT.sub(alphaBar.sqrt().mul(xStart)).div(alphaBar.rsub(1).sqrt()));
}

/** x_0 = √ᾱ x_t − √(1−ᾱ) v. */
export function xstartFromV(xT: Tensor, v: Tensor, alphaBar: Tensor): Tensor {
  return torch.tidy(() => alphaBar.sqrt().mul(xT).sub(alphaBar.rsub(1).sqrt().mul(v)));
}

/** ε = √(1−ᾱ) x_t + √ᾱ v. */
export function epsFromV(xT: Tensor, v: Tensor, alphaBar: Tensor): Tensor {
  return torch.tidy(() => alphaBar.rsub(1).sqrt().mul(xT).add(alphaBar.sqrt().mul(v)));
}

/** v = √ᾱ ε − √(1−ᾱ) x_0 (the training target for v-prediction). */
export function vFromXstartEps(xStart: Tensor, eps: Tensor, alphaBar: Tensor): Tensor {
  return torch.tidy(() => alphaBar.sqrt().mul(eps).sub(alphaBar.rsub(1).sqrt().mul(xStart)));
}
