// Interpolation between two images through their DDIM inversions: spherical interpolation of the
// x_T (Song et al. 2021, sec. 5.3; slerp keeps the norm a Gaussian sample has, where a lerp's
// midpoint would be too faint), then DDIM sampling of each in-between x_T. Optionally the
// in-betweens' self-attention keys and values are interpolated between the two ends' own
// (DiffMorpher, Zhang et al. 2024). For class-conditional models each end is inverted with its
// own class and the in-betweens get the lerp of the two class embeddings.
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
  /**
   * Class-conditional models: the classes of a and b, and the number of rows of the label
   * embedding (numClasses, + 1 with a null class); the strip lerps the two embeddings.
   */
  classes?: { a: number; b: number; count: number };
}

/** Per image, weights over the label embedding's rows: (1−α) at class a, α at class b. */
function classWeights(classes: { a: number; b: number; count: number }, alphas: number[], device: torch.Device): Tensor {
  const w = new Float32Array(alphas.length * classes.count);
  alphas.forEach((t, i) => {
    w[i * classes.count + classes.a] += 1 - t;
    w[i * classes.count + classes.b] += t;
  });
  return torch.tensor(w, { shape: [alphas.length, classes.count], device }); // (n, K)
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
  const { classes } = options;
  const label = (k: number): Tensor => torch.tensor(BigInt64Array.of(BigInt(k)), { device: a.device }); // (1,)
  const kwargsA = classes ? { y: label(classes.a) } : options.modelKwargs;
  const kwargsB = classes ? { y: label(classes.b) } : options.modelKwargs;
  const kwargsStrip = classes ? { yWeights: classWeights(classes, alphas, a.device) } : options.modelKwargs;
  const innerA = { ...options, progress: undefined, modelKwargs: kwargsA };
  const innerB = { ...options, progress: undefined, modelKwargs: kwargsB };
  const stripOptions = { ...options, modelKwargs: kwargsStrip };
  return torch.noGrad(() => {
    const zA = invert(spec, a, innerA).keep(); // (1, C, H, W)
    const zB = invert(spec, b, innerB).keep(); // (1, C, H, W)
    try {
      const z = torch.tidy(() => torch.cat(alphas.map((t) => slerp(zA, zB, t)))); // (n, C, H, W)
      const model = options.attention;
      if (model === undefined) return reconstruct(spec, z, stripOptions);
      // The two ends' own passes record their K/V at every step; the strip attends to their lerp.
      const storeA = new KvStore();
      const storeB = new KvStore();
      try {
        withAttnProcessors(model, new KvRecordProcessor(storeA), () => reconstruct(spec, zA, innerA).dispose());
        withAttnProcessors(model, new KvRecordProcessor(storeB), () => reconstruct(spec, zB, innerB).dispose());
        return withAttnProcessors(model, new InterpolatingAttnProcessor(storeA, storeB, alphas), () => reconstruct(spec, z, stripOptions));
      } finally {
        storeA.dispose();
        storeB.dispose();
        z.dispose();
      }
    } finally {
      zA.dispose();
      zB.dispose();
      if (classes) torch.dispose([kwargsA!.y!, kwargsB!.y!, kwargsStrip!.yWeights!]);
    }
  });
}
