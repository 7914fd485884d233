// The Fréchet distance between two Gaussians (Dowson & Landau 1982), which FID evaluates on
// feature statistics (Heusel et al. 2017):
//   d² = ‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½).
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { featureStatistics, trace, traceSqrtProduct, type TraceSqrtProduct } from './linalg.js';

export interface FrechetOptions {
  /** ε of the ε·I added to both covariances when the first result is not accurate (pytorch-fid's 1e-6). */
  eps?: number;
  /** Receives each warning (one line); default: printed to stderr. */
  onWarning?: (message: string) => void;
}

/** Eigenvalues more negative than this (relative to the largest) are not rounding: the input is not PSD. */
const NEGATIVE_TOLERANCE = 1e-8;
/** Smallest/largest eigenvalue below this: the covariance is singular to working precision. */
const SINGULAR_TOLERANCE = 1e-12;

function accurate(r: TraceSqrtProduct): boolean {
  return Number.isFinite(r.value) && r.worstNegative <= NEGATIVE_TOLERANCE;
}

function defaultWarning(message: string): void {
  console.error(`diffuse: warning: ${message}`);
}

/**
 * The Fréchet distance between N(μ1, Σ1) and N(μ2, Σ2). tr((Σ1 Σ2)^½) comes from the symmetric
 * eigenvalues of √Σ1 Σ2 √Σ1 in float64 (see traceSqrtProduct). When that result is not accurate
 * (non-finite, or eigenvalues negative beyond rounding: an input that is not a covariance to
 * working precision), ε·I is added to both covariances as pytorch-fid does, with a warning; a
 * singular covariance (fewer samples than feature dimensions) is computed exactly but warned
 * about, since its FID is strongly biased.
 * @param mu1 μ1 (D,).
 * @param sigma1 Σ1 (D, D), symmetric PSD.
 * @param mu2 μ2 (D,).
 * @param sigma2 Σ2 (D, D), symmetric PSD.
 * @param options eps, onWarning.
 * @returns d² (FID when the inputs are feature statistics).
 * @throws RangeError for mismatched shapes, Error when no finite result exists.
 */
export function frechetDistance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor, options: FrechetOptions = {}): number {
  const d = mu1.shape[0]!;
  const shapes = [mu1.shape, mu2.shape, sigma1.shape, sigma2.shape].map((s) => s.join('×'));
  if (shapes[0] !== `${d}` || shapes[1] !== `${d}` || shapes[2] !== `${d}×${d}` || shapes[3] !== `${d}×${d}`) {
    throw new RangeError(`frechetDistance: expected μ (D,) and Σ (D, D) of one D; got μ1 ${shapes[0]}, Σ1 ${shapes[2]}, μ2 ${shapes[1]}, Σ2 ${shapes[3]}`);
  }
  const warn = options.onWarning ?? defaultWarning;
  return torch.tidy(() => {
    const s1 = sigma1.to('float64');
    const s2 = sigma2.to('float64');
    const diff = mu1.to('float64').sub(mu2.to('float64')); // (D,)
    const meanTerm = diff.square().sum().item();
    let r = traceSqrtProduct(s1, s2);
    if (!accurate(r)) {
      const eps = options.eps ?? 1e-6;
      const first = Number.isFinite(r.value) ? `eigenvalues down to −${r.worstNegative.toExponential(1)} of the largest` : 'a non-finite value';
      warn(`FID: tr((Σ1Σ2)^½) gave ${first}; adding ${eps}·I to both covariances (as pytorch-fid)`);
      const eye = torch.eye(d, { dtype: 'float64' }).mul_(eps);
      r = traceSqrtProduct(s1.add(eye), s2.add(eye));
      if (!Number.isFinite(r.value)) throw new Error('FID: the covariances hold non-finite values; check the features');
      if (!accurate(r)) warn(`FID: still not accurate after adding ${eps}·I (eigenvalues down to −${r.worstNegative.toExponential(1)} of the largest); the inputs are not covariance matrices`);
    }
    r.conditionInverse.forEach((c, i) => {
      if (c < SINGULAR_TOLERANCE) {
        warn(`FID: covariance ${i + 1} is singular (smallest/largest eigenvalue ${c.toExponential(1)}); with fewer samples than feature dimensions (${d}) FID is strongly biased — use more images`);
      }
    });
    return meanTerm + trace(s1) + trace(s2) - 2 * r.value;
  });
}

/**
 * FID between two sets of feature vectors: the Fréchet distance of their Gaussian fits.
 * @param featuresA (N, D).
 * @param featuresB (M, D).
 * @param options eps, onWarning (see frechetDistance).
 * @returns FID.
 */
export function fid(featuresA: Tensor, featuresB: Tensor, options: FrechetOptions = {}): number {
  return torch.tidy(() => {
    const a = featureStatistics(featuresA);
    const b = featureStatistics(featuresB);
    return frechetDistance(a.mu, a.sigma, b.mu, b.sigma, options);
  });
}
