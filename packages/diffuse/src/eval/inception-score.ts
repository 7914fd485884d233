// Inception Score (Salimans et al. 2016): IS = exp(E_x KL(p(y|x) ‖ p(y))), over consecutive
// splits as the original improved-gan code (mean ± std over 10 splits).
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

export interface InceptionScoreResult {
  /** Mean of the per-split scores. */
  mean: number;
  /** Their standard deviation (population, as numpy.std). */
  std: number;
  /** Every split's score. */
  values: number[];
}

/**
 * The Inception Score of classifier logits: 1 when every prediction is the same distribution,
 * K when predictions are confident and spread evenly over K classes.
 * @param logits (N, K) unnormalised class scores of N images.
 * @param options splits (default 10): the images are cut, in order, into this many parts.
 */
export function inceptionScore(logits: Tensor, options: { splits?: number } = {}): InceptionScoreResult {
  const n = logits.shape[0]!;
  const splits = options.splits ?? 10;
  if (!Number.isInteger(splits) || splits < 1 || splits > n) throw new RangeError(`inceptionScore: splits must be in [1, ${n}], got ${splits}`);
  const values = torch.tidy(() => {
    const logP = logits.to('float64').logSoftmax(1); // (N, K) log p(y|x)
    const out: number[] = [];
    for (let i = 0; i < splits; i++) {
      const from = Math.floor((i * n) / splits);
      const to = Math.floor(((i + 1) * n) / splits);
      out.push(torch.tidy(() => {
        const part = logP.narrow(0, from, to - from); // (n_i, K)
        const p = part.exp();
        const logMarginal = p.mean(0).log(); // (K,) log p(y)
        const kl = p.mul(part.sub(logMarginal)).sum(1).mean().item(); // E_x KL(p(y|x) ‖ p(y))
        return Math.exp(kl);
      }));
    }
    return out;
  });
  const mean = values.reduce((a, v) => a + v, 0) / splits;
  const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / splits);
  return { mean, std, values };
}
