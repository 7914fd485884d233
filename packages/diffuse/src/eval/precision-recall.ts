// Improved precision and recall (Kynkäänniemi et al. 2019): each set's manifold is the union of
// balls around its points, each ball reaching the point's k-th nearest neighbour in the set.
// Precision = share of generated points inside the real manifold; recall = share of real points
// inside the generated manifold.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

export interface PrecisionRecallOptions {
  /** Neighbourhood size k (default 3, as the paper and the openai evaluator). */
  k?: number;
  /** Rows of the distance matrix computed at once (default 1000). */
  batchSize?: number;
}

/** Squared Euclidean distances between rows, ‖a‖² + ‖b‖² − 2 a·b clamped at 0. (A, D), (B, D) → (A, B). */
function squaredDistances(a: Tensor, b: Tensor, bNormSq: Tensor): Tensor {
  return torch.tidy(() => a.square().sum(1, true).add(bNormSq).sub_(a.matmul(b.t()).mul_(2)).clampMin(0));
}

/** Runs fn over row blocks of x and concatenates the (rows,) results. */
function byRows(x: Tensor, batchSize: number, fn: (rows: Tensor) => Tensor): Tensor {
  return torch.tidy(() => {
    const parts: Tensor[] = [];
    for (let i = 0; i < x.shape[0]!; i += batchSize) parts.push(fn(x.narrow(0, i, Math.min(batchSize, x.shape[0]! - i))));
    return torch.cat(parts);
  });
}

/**
 * The squared radius of each point's ball: the squared distance to its k-th nearest neighbour
 * in the same set (the point itself, at distance 0, is not counted).
 * @param x (N, D) float64, N > k.
 * @returns (N,) float64.
 */
export function kthNeighbourRadii(x: Tensor, k: number, batchSize = 1000): Tensor {
  const n = x.shape[0]!;
  if (n <= k) throw new RangeError(`precision/recall: a set needs more than k = ${k} points, got ${n}`);
  return torch.tidy(() => {
    const normSq = x.square().sum(1); // (N,)
    return byRows(x, batchSize, (rows) => {
      const [smallest] = squaredDistances(rows, x, normSq).topk(k + 1, 1, false, true); // (b, k+1), self first
      return smallest.select(1, k); // (b,)
    });
  });
}

/**
 * The share of query points inside the manifold of a reference set.
 * @param query (M, D) float64.
 * @param reference (N, D) float64.
 * @param radiiSq (N,) squared ball radii of the reference points.
 */
export function manifoldCoverage(query: Tensor, reference: Tensor, radiiSq: Tensor, batchSize = 1000): number {
  return torch.tidy(() => {
    const normSq = reference.square().sum(1); // (N,)
    const inside = byRows(query, batchSize, (rows) => torch.call<Tensor>('aten::any.dim', [squaredDistances(rows, reference, normSq).le(radiiSq), 1, false])); // (M,) bool
    return inside.to('float64').mean().item();
  });
}

/**
 * Improved precision and recall of generated features against real ones.
 * @param real (N, D) features of real images.
 * @param fake (M, D) features of generated images.
 * @param options k (default 3), batchSize.
 * @returns precision (fidelity) and recall (coverage), each in [0, 1].
 */
export function precisionRecall(real: Tensor, fake: Tensor, options: PrecisionRecallOptions = {}): { precision: number; recall: number } {
  const k = options.k ?? 3;
  const batchSize = options.batchSize ?? 1000;
  if (real.shape[1] !== fake.shape[1]) throw new RangeError(`precisionRecall: feature sizes differ (${real.shape[1]} and ${fake.shape[1]})`);
  return torch.tidy(() => {
    const r = real.to('float64');
    const f = fake.to('float64');
    const realRadii = kthNeighbourRadii(r, k, batchSize);
    const fakeRadii = kthNeighbourRadii(f, k, batchSize);
    return {
      precision: manifoldCoverage(f, r, realRadii, batchSize),
      recall: manifoldCoverage(r, f, fakeRadii, batchSize),
    };
  });
}
