// Float64 linear algebra for the metrics, on libtorch's LAPACK (aten::linalg_eigh): feature
// statistics, symmetric square roots, and tr((Σ1 Σ2)^½) through a symmetric eigenproblem.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

/** Mean and covariance of a set of feature vectors. */
export interface FeatureStatistics {
  /** μ (D,) float64. */
  mu: Tensor;
  /** Σ (D, D) float64, normalised by N − 1 as numpy.cov. */
  sigma: Tensor;
}

/**
 * μ and the unbiased covariance Σ of feature rows (numpy.mean(axis=0), numpy.cov(rowvar=False)).
 * @param features (N, D), any float dtype; computed in float64.
 * @returns mu (D,) and sigma (D, D), float64.
 */
export function featureStatistics(features: Tensor): FeatureStatistics {
  const [n] = features.shape as [number, number];
  if (n < 2) throw new RangeError(`featureStatistics: need at least 2 feature vectors, got ${n}`);
  return torch.tidy(() => {
    const x = features.to('float64'); // (N, D)
    const mu = x.mean(0); // (D,)
    const centred = x.sub(mu); // (N, D)
    const sigma = centred.t().matmul(centred).div(n - 1); // (D, D)
    return { mu, sigma: symmetrize(sigma) };
  });
}

/** (A + Aᵀ) / 2: removes the rounding asymmetry of products that are symmetric in exact arithmetic. */
export function symmetrize(a: Tensor): Tensor {
  return torch.tidy(() => a.add(a.t()).mul_(0.5)); // (D, D)
}

/**
 * Eigen-decomposition of a symmetric matrix (LAPACK syevd through aten::linalg_eigh).
 * @param a (D, D) symmetric; only its lower triangle is read.
 * @returns eigenvalues (D,) ascending and eigenvectors (D, D) as columns.
 */
export function eigh(a: Tensor): { values: Tensor; vectors: Tensor } {
  const [values, vectors] = torch.call<[Tensor, Tensor]>('aten::linalg_eigh', [a, 'L']);
  return { values, vectors };
}

/** The trace of a square matrix. */
export function trace(a: Tensor): number {
  return torch.tidy(() => torch.callByName<Tensor>('aten::trace', [a]).item());
}

/**
 * The square root of a symmetric positive semi-definite matrix, V diag(√max(λ, 0)) Vᵀ; the
 * eigenvalues below zero are rounding noise of a PSD matrix and count as zero.
 * @param a (D, D) symmetric PSD, float64.
 * @returns √a (D, D), symmetric.
 */
export function psdSqrt(a: Tensor): Tensor {
  return torch.tidy(() => {
    const { values, vectors } = eigh(a);
    const root = values.clampMin(0).sqrt(); // (D,)
    return symmetrize(vectors.mul(root).matmul(vectors.t())); // (D, D)
  });
}

/** tr((Σ1 Σ2)^½) and what the eigenvalues behind it say about its accuracy. */
export interface TraceSqrtProduct {
  /** tr((Σ1 Σ2)^½) = Σ √μ_i over the eigenvalues μ_i of √Σ1 Σ2 √Σ1 (negative ones as zero). */
  value: number;
  /** The most negative eigenvalue of Σ1, Σ2 or √Σ1 Σ2 √Σ1 relative to the largest of that matrix (0 when none is negative). */
  worstNegative: number;
  /** Smallest over largest eigenvalue of Σ1 and of Σ2: near zero for (near-)singular covariances. */
  conditionInverse: [number, number];
}

function eigenRange(values: Tensor): { min: number; max: number } {
  return { min: values.select(0, 0).item(), max: values.select(0, -1).item() };
}

/**
 * tr((Σ1 Σ2)^½) for symmetric PSD Σ1, Σ2. Σ1 Σ2 is not symmetric, but it is similar to the
 * symmetric PSD matrix M = √Σ1 Σ2 √Σ1 (M = √Σ1 (Σ1 Σ2) √Σ1⁻¹ where Σ1 is invertible, and by
 * continuity otherwise), so both have the same eigenvalues μ_i ≥ 0 and tr((Σ1 Σ2)^½) = Σ √μ_i.
 * Two symmetric eigenproblems replace scipy's general Schur-based sqrtm, and singular
 * covariances need no special case.
 * @param sigma1 Σ1 (D, D) float64.
 * @param sigma2 Σ2 (D, D) float64.
 */
export function traceSqrtProduct(sigma1: Tensor, sigma2: Tensor): TraceSqrtProduct {
  return torch.tidy(() => {
    const e1 = eigh(sigma1);
    const e2 = torch.callByName<Tensor>('aten::linalg_eigvalsh', [sigma2, 'L']); // (D,)
    const root1 = e1.vectors.mul(e1.values.clampMin(0).sqrt()).matmul(e1.vectors.t()); // √Σ1 (D, D)
    const m = symmetrize(root1.matmul(sigma2).matmul(root1)); // (D, D)
    const mu = torch.callByName<Tensor>('aten::linalg_eigvalsh', [m, 'L']); // (D,) ascending
    const value = mu.clampMin(0).sqrt().sum().item();
    const ranges = [eigenRange(e1.values), eigenRange(e2), eigenRange(mu)];
    const worstNegative = Math.max(0, ...ranges.map((r) => (r.min < 0 ? -r.min / Math.max(r.max, Number.MIN_VALUE) : 0)));
    const conditionInverse: [number, number] = [0, 1].map((i) => {
      const r = ranges[i]!;
      return r.max > 0 ? Math.max(r.min, 0) / r.max : 0;
    }) as [number, number];
    return { value, worstNegative, conditionInverse };
  });
}
