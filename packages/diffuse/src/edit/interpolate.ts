// Interpolation between two images through their DDIM inversions: spherical interpolation of the
// x_T (Song et al. 2021, sec. 5.3; slerp keeps the norm a Gaussian sample has, where a lerp's
// midpoint would be too faint), then DDIM sampling of each in-between x_T. Optionally the
// in-betweens' self-attention keys and values are interpolated between the two ends' own
// (DiffMorpher, Zhang et al. 2024), which makes the morph smoother.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { InterpolatingAttnProcessor, KvRecordProcessor, KvStore } from '../models/attn-processors-edit.js';
import type { DiffusionModelSpec } from '../samplers/index.js';
import { withAttnProcessors, type HasAttnProcessors } from './attn-scope.js';
import { invert, reconstruct, type InversionOptions } from './invert.js';

/**
 * Spherical linear interpolation (Shoemake 1985) between two tensors seen as vectors.
 * @param a (…); @param b the same shape; @param alpha 0 → a, 1 → b.
 * @returns (…) on the great circle through a and b (a lerp when they are parallel).
 */
export function slerp(a: Tensor, b: Tensor, alpha: number): Tensor {
  return torch.tidy(() => {
    const cos = a.mul(b).sum().item() / (a.norm().item() * b.norm().item());
    const theta = Math.acos(Math.min(1, Math.max(-1, cos)));
    if (theta < 1e-6) return a.lerp(b, alpha);
    const s = Math.sin(theta);
    return a.mul(Math.sin((1 - alpha) * theta) / s).add(b.mul(Math.sin(alpha * theta) / s));
  });
}

/** Options of interpolate(). */
export interface InterpolateOptions extends InversionOptions {
  /** Images in the strip, ends included (≥ 2). */
  n: number;
  /** Interpolate self-attention K/V too (DiffMorpher): the model whose attention processors to use. */
  attention?: HasAttnProcessors;
}

/**
 * A morph from image a to image b.
 * @param spec the model; @param a (1, C, H, W) in [−1, 1]; @param b (1, C, H, W) (not consumed).
 * @returns n images (n, C, H, W), the first ≈ a and the last ≈ b (their DDIM reconstructions).
 */
export function interpolate(spec: DiffusionModelSpec, a: Tensor, b: Tensor, options: InterpolateOptions): Tensor {
  const { n } = options;
  if (!(Number.isInteger(n) && n >= 2)) throw new RangeError(`interpolate: n must be an integer ≥ 2, got ${n}`);
  if (a.size(0) !== 1 || b.size(0) !== 1 || a.shape.join() !== b.shape.join()) {
    throw new RangeError(`interpolate: a and b must be single images of one shape, got [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
  }
  const alphas = Array.from({ length: n }, (_, i) => i / (n - 1));
  const inner = { ...options, progress: undefined };
  return torch.noGrad(() => {
    const zA = invert(spec, a, inner).keep(); // (1, C, H, W)
    const zB = invert(spec, b, inner).keep(); // (1, C, H, W)
    try {
      const z = torch.tidy(() => torch.cat(alphas.map((t) => slerp(zA, zB, t)))); // (n, C, H, W)
      const model = options.attention;
      if (model === undefined) return reconstruct(spec, z, options);
      // The two ends' own passes record their K/V at every step; the strip attends to their lerp.
      const storeA = new KvStore();
      const storeB = new KvStore();
      try {
        withAttnProcessors(model, new KvRecordProcessor(storeA), () => reconstruct(spec, zA, inner).dispose());
        withAttnProcessors(model, new KvRecordProcessor(storeB), () => reconstruct(spec, zB, inner).dispose());
        return withAttnProcessors(model, new InterpolatingAttnProcessor(storeA, storeB, alphas), () => reconstruct(spec, z, options));
      } finally {
        storeA.dispose();
        storeB.dispose();
        z.dispose();
      }
    } finally {
      zA.dispose();
      zB.dispose();
    }
  });
}
