// Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_ (PyTorch 1.13).
import { noGrad } from '../autograd.js';
import { stack } from '../functional.js';
import { tidy } from '../memory.js';
import type { Tensor } from '../tensor.js';

export interface ClipGradNormOptions {
  /** Throw when the total norm is NaN or infinite instead of scaling by it. */
  errorIfNonfinite?: boolean;
}

function gradsOf(params: Tensor | Tensor[]): Tensor[] {
  const list = Array.isArray(params) ? params : [params];
  return list.map((p) => p.grad).filter((g): g is Tensor => g !== null);
}

/**
 * Rescales the gradients in place so that their joint norm (as if concatenated into one vector)
 * is at most maxNorm: g ← g · min(1, maxNorm / (‖g‖ + 1e-6)).
 * @param params parameters whose gradients are clipped (those without one are skipped).
 * @param maxNorm the largest allowed total norm.
 * @param normType p of the p-norm; Infinity for the max norm.
 * @returns the total norm before clipping (0 when no parameter has a gradient).
 */
export function clipGradNorm_(params: Tensor | Tensor[], maxNorm: number, normType = 2, options: ClipGradNormOptions = {}): number {
  return noGrad(() =>
    tidy(() => {
      const grads = gradsOf(params);
      if (grads.length === 0) return 0;
      let total: Tensor; // 0-d
      if (normType === Infinity) {
        const norms = grads.map((g) => g.abs().max());
        total = norms.length === 1 ? norms[0]! : stack(norms).max();
      } else {
        // Per-tensor norms over all dims (PyTorch's torch.norm(g, p)), then the norm of those.
        const norms = grads.map((g) => g.norm(normType, allDims(g)));
        total = stack(norms).norm(normType, [0]);
      }
      const totalNorm = total.item();
      if (options.errorIfNonfinite && !Number.isFinite(totalNorm)) {
        throw new Error(`The total norm of order ${normType} for gradients is non-finite, so it cannot be clipped`);
      }
      // PyTorch computes max_norm / (total + 1e-6) as reciprocal() * max_norm, in the grads' dtype.
      const clipCoef = total.add(1e-6).reciprocal().mul(maxNorm).clamp(null, 1.0); // 0-d
      for (const g of grads) g.mul_(clipCoef);
      return totalNorm;
    }),
  );
}

function allDims(t: Tensor): number[] {
  return Array.from({ length: t.ndim }, (_, i) => i);
}

/**
 * Clamps every gradient element into [-clipValue, clipValue], in place.
 * @param params parameters whose gradients are clipped (those without one are skipped).
 * @param clipValue the largest allowed magnitude.
 */
export function clipGradValue_(params: Tensor | Tensor[], clipValue: number): void {
  noGrad(() =>
    tidy(() => {
      for (const g of gradsOf(params)) g.clamp_(-clipValue, clipValue);
    }),
  );
}
