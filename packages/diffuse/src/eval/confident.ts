// The confident-classifier share: the fraction of images a classifier assigns to one class with
// probability above a threshold. FID compares feature statistics and can call a set of samples
// better than real data while a fair share of them are malformed; a malformed digit is one the
// digits classifier cannot name, so this share sees it. Read it next to the same share of real
// images (on the bundled held-out digits the shipped classifier is confident on ~99 %).
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

/** The default threshold on the top class probability. */
export const CONFIDENT_THRESHOLD = 0.9;

/**
 * Share of images whose top softmax probability exceeds a threshold:
 * (1/N) Σᵢ 1[maxₖ softmax(logitsᵢ)ₖ > τ].
 * @param logits (N, K) class logits of N images.
 * @param threshold τ in [0, 1) (default 0.9).
 * @returns a number in [0, 1].
 */
export function confidentShare(logits: Tensor, threshold: number = CONFIDENT_THRESHOLD): number {
  if (!(threshold >= 0 && threshold < 1)) throw new RangeError(`confidentShare: threshold must be in [0, 1), got ${threshold}`);
  const n = logits.shape[0]!;
  if (n === 0) throw new RangeError('confidentShare: no images');
  return torch.tidy(() => {
    const pMax = logits.to('float64').softmax(-1).amax(-1); // (N,)
    return pMax.gt(threshold).to('float64').sum().item() / n;
  });
}
