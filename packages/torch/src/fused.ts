// Fused ops implemented in the addon (native/fused_norm.cc), reached through the dispatcher like
// any ATen op, with their own hand-written backward.
import { call } from './dispatch.js';
import type { DType } from './dtype.js';
import type { Generator } from './random.js';
import type { Tensor } from './tensor.js';

export interface GroupNormActOptions {
  /** FiLM scale (B, C) (or any shape with B·C elements): y·(1 + scale) after the affine norm. */
  scale?: Tensor | null;
  /** FiLM shift (B, C), added after the scale. */
  shift?: Tensor | null;
  /** GroupNorm's ε (default 1e-5). */
  eps?: number;
  /** Apply SiLU (x·σ(x)) after the scale-shift (default false). */
  silu?: boolean;
  /** Dropout probability p (default 0): zeroes with probability p, scales the rest by 1/(1 − p). */
  dropout?: number;
  /** Dropout is active only when training (default false). */
  training?: boolean;
  /** Where the dropout seed comes from (default: the global CPU generator). */
  generator?: Generator;
  /** The result's dtype, 'float32' or 'bfloat16' (default: x's dtype); the math is float32. */
  outDtype?: DType;
}

/**
 * GroupNorm → scale-shift → SiLU → dropout in one pass (forward and backward), on the CPU:
 * dropout(silu(groupNorm(x, G, weight, bias)·(1 + scale) + shift)). The dropout mask is not
 * stored: it is a hash of one seed drawn from the generator and each element's index, so the
 * same generator state gives the same mask, and backward recomputes it.
 * @param x (B, C, *spatial), float32 or bfloat16, on the CPU.
 * @param numGroups G, dividing C.
 * @param weight γ (C) or null.
 * @param bias β (C) or null.
 * @param opts scale/shift, eps, silu, dropout, training, generator, outDtype.
 * @returns (B, C, *spatial) in opts.outDtype (default x's dtype).
 */
export function groupNormAct(
  x: Tensor, numGroups: number, weight: Tensor | null, bias: Tensor | null, opts: GroupNormActOptions = {},
): Tensor {
  const p = opts.dropout ?? 0;
  if (p < 0 || p > 1) throw new RangeError(`groupNormAct: dropout probability must be in [0, 1], got ${p}`);
  return call('diffuse::group_norm_act', [
    x, numGroups, weight, bias, opts.scale ?? null, opts.shift ?? null, opts.eps ?? 1e-5, opts.silu ?? false, p,
    opts.training ?? false, opts.generator ?? null, opts.outDtype ?? null,
  ]);
}
