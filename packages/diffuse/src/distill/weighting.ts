// The loss weights of progressive distillation (Salimans & Ho 2022, sec. 4): the x-space error
// ‖x̃ − x̂_θ(z_t)‖² is weighted by a function of SNR_t = α_t² / σ_t², because the ε-loss's implicit
// weight (SNR) vanishes at the high-noise steps that distillation cannot afford to ignore:
//   'truncated-snr': max(SNR, 1) = max(‖x − x̂‖², ‖ε − ε̂‖²) / ‖x − x̂‖²;
//   'snr+1': SNR + 1, which is the v-prediction loss ‖v − v̂‖² (v = α ε − σ x).
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

export const DISTILL_WEIGHTINGS = ['truncated-snr', 'snr+1'] as const;
export type DistillWeighting = (typeof DISTILL_WEIGHTINGS)[number];

/**
 * The weight of each example's x-space error.
 * @param alphaBar ᾱ_t = α_t² of each example (B,) (float32 or float64).
 * @param weighting 'truncated-snr' (max(SNR, 1)) or 'snr+1'.
 * @returns (B,) weights, the dtype of alphaBar.
 */
export function distillWeight(alphaBar: Tensor, weighting: DistillWeighting): Tensor {
  return torch.tidy(() => {
    const snr = alphaBar.div(alphaBar.rsub(1)); // (B,): ᾱ / (1 − ᾱ)
    return weighting === 'snr+1' ? snr.add(1) : snr.clamp(1); // (B,)
  });
}
