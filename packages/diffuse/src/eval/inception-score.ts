// Inception Score (Salimans et al. 2016): IS = exp(E_x KL(p(y|x) ‖ p(y))), mean ± std over 10
// splits of the images after a seeded shuffle (as torch-fidelity; the original improved-gan
// code splits in order, which is the same for i.i.d. samples but lopsided for class-sorted data).
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

export interface InceptionScoreOptions {
  /** Number of splits (default 10). */
  splits?: number;
  /** Seed of the shuffle before splitting (default 0); null keeps the given order. */
  seed?: number | null;
}

/**
 * The Inception Score of classifier logits: 1 when every prediction is the same distribution,
 * K when predictions are confident and spread evenly over K classes.
 * @param logits (N, K) unnormalised class scores of N images.
 * @param options splits (default 10) and the shuffle seed (default 0; null: no shuffle).
 */
export function inceptionScore(logits: Tensor, options: InceptionScoreOptions = {}): InceptionScoreResult {
  const n = logits.shape[0]!;
  const splits = options.splits ?? 10;
  if (!Number.isInteger(splits) || splits < 1 || splits > n) throw new RangeError(`inceptionScore: splits must be in [1, ${n}], got ${splits}`);
  const values = torch.tidy(() => {
    const seed = options.seed === undefined ? 0 : options.seed;
    const ordered = seed === null ? logits : logits.indexSelect(0, torch.randperm(n, { generator: new torch.Generator({ seed }) }));
    const logP = ordered.to('float64').logSoftmax(1); // (N, K) log p(y|x)
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
