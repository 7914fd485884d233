// Kernel Inception Distance (Bińkowski et al. 2018): the unbiased estimator of the squared MMD
// with the polynomial kernel k(x, y) = (γ xᵀy + c)^d, averaged over random subsets, as
// torch-fidelity and clean-fid compute it (d = 3, γ = 1/D, c = 1, 100 subsets of 1000).
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

export interface KidOptions {
  /** Number of random subsets (default 100). */
  subsets?: number;
  /** Subset size (default 1000; capped at the smaller set's size). */
  subsetSize?: number;
  /** Kernel degree d (default 3). */
  degree?: number;
  /** Kernel scale γ (default 1/D). */
  gamma?: number;
  /** Kernel offset c (default 1). */
  coef0?: number;
  /** Seed of the subset draws (default 0). */
  seed?: number;
}

export interface KidResult {
  /** Mean of the per-subset estimates. */
  mean: number;
  /** Their standard deviation (population, as torch-fidelity). */
  std: number;
  /** The subset size used. */
  subsetSize: number;
  /** Every subset's estimate. */
  values: number[];
}

/**
 * The unbiased estimate of MMD²(P, Q) from equal-size samples X ~ P and Y ~ Q (Gretton et al.
 * 2012, eq. 3): the within-set kernel means skip the diagonal (i ≠ j), so E[estimate] = MMD².
 * @param x (m, D) float64.
 * @param y (m, D) float64.
 * @param kernel (a, b) → the (m, m) kernel matrix.
 */
export function mmd2Unbiased(x: Tensor, y: Tensor, kernel: (a: Tensor, b: Tensor) => Tensor): number {
  const m = x.shape[0]!;
  if (m < 2 || y.shape[0] !== m) throw new RangeError(`mmd2Unbiased: need two samples of one size ≥ 2, got ${m} and ${y.shape[0]}`);
  return torch.tidy(() => {
    const offDiagonalSum = (k: Tensor): number => k.sum().item() - torch.callByName<Tensor>('aten::trace', [k]).item();
    const kxx = offDiagonalSum(kernel(x, x)); // Σ_{i≠j} k(x_i, x_j)
    const kyy = offDiagonalSum(kernel(y, y));
    const kxy = kernel(x, y).sum().item(); // Σ_{i,j} k(x_i, y_j)
    return (kxx + kyy) / (m * (m - 1)) - (2 * kxy) / (m * m);
  });
}

/**
 * KID between two feature sets: mean ± std of the unbiased MMD² over random subsets (drawn
 * without replacement within a subset, independently across subsets), float64 throughout.
 * @param featuresA (N, D).
 * @param featuresB (M, D).
 * @param options subsets, subsetSize, degree, gamma, coef0, seed.
 */
export function kid(featuresA: Tensor, featuresB: Tensor, options: KidOptions = {}): KidResult {
  const [n, dim] = featuresA.shape as [number, number];
  const nb = featuresB.shape[0]!;
  if (featuresB.shape[1] !== dim) throw new RangeError(`kid: feature sizes differ (${dim} and ${featuresB.shape[1]})`);
  const subsetSize = Math.min(options.subsetSize ?? 1000, n, nb);
  if (subsetSize < 2) throw new RangeError(`kid: need at least 2 feature vectors in each set, got ${n} and ${nb}`);
  const subsets = options.subsets ?? 100;
  const degree = options.degree ?? 3;
  const gamma = options.gamma ?? 1 / dim;
  const coef0 = options.coef0 ?? 1;
  const kernel = (a: Tensor, b: Tensor): Tensor => a.matmul(b.t()).mul_(gamma).add_(coef0).pow_(degree); // (m, m)
  const generator = new torch.Generator({ seed: options.seed ?? 0 });
  const values: number[] = [];
  torch.tidy(() => {
    const a = featuresA.to('float64');
    const b = featuresB.to('float64');
    for (let s = 0; s < subsets; s++) {
      values.push(torch.tidy(() => {
        const ia = torch.randperm(n, { generator }).narrow(0, 0, subsetSize); // (m,)
        const ib = torch.randperm(nb, { generator }).narrow(0, 0, subsetSize);
        return mmd2Unbiased(a.indexSelect(0, ia), b.indexSelect(0, ib), kernel);
      }));
    }
  });
  const mean = values.reduce((acc, v) => acc + v, 0) / values.length;
  const std = Math.sqrt(values.reduce((acc, v) => acc + (v - mean) ** 2, 0) / values.length);
  return { mean, std, subsetSize, values };
}
