// Free functions over tensors: joining, selection, and the neural-network ops of
// torch.nn.functional (conv, norms, pooling, interpolation, attention pieces).
import { call } from './dispatch.js';
import type { DType } from './dtype.js';
import type { Generator } from './random.js';
import type { Tensor, TensorOrScalar } from './tensor.js';

type Pair = number | [number, number];

export function cat(tensors: Tensor[], dim = 0): Tensor {
  return call('aten::cat', [tensors, dim]);
}
export function stack(tensors: Tensor[], dim = 0): Tensor {
  return call('aten::stack', [tensors, dim]);
}
/** condition ? x : y, elementwise with broadcasting. */
export function where(condition: Tensor, x: TensorOrScalar, y: TensorOrScalar): Tensor {
  if (typeof x === 'number' && typeof y === 'number') return call('aten::where.Scalar', [condition, x, y]);
  if (typeof x === 'number') return call('aten::where.ScalarSelf', [condition, x, y]);
  if (typeof y === 'number') return call('aten::where.ScalarOther', [condition, x, y]);
  return call('aten::where.self', [condition, x, y]);
}
export function einsum(equation: string, operands: Tensor[]): Tensor {
  return call('aten::einsum', [equation, operands]);
}

export function linear(input: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return call('aten::linear', [input, weight, bias ?? null]);
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}
export function conv2d(input: Tensor, weight: Tensor, bias?: Tensor | null, o: Conv2dOptions = {}): Tensor {
  return call('aten::conv2d', [input, weight, bias ?? null, o.stride ?? 1, o.padding ?? 0, o.dilation ?? 1, o.groups ?? 1]);
}
export interface ConvTranspose2dOptions extends Conv2dOptions {
  outputPadding?: Pair;
}
export function convTranspose2d(input: Tensor, weight: Tensor, bias?: Tensor | null, o: ConvTranspose2dOptions = {}): Tensor {
  return call('aten::conv_transpose2d.input', [
    input, weight, bias ?? null, o.stride ?? 1, o.padding ?? 0, o.outputPadding ?? 0, o.groups ?? 1, o.dilation ?? 1,
  ]);
}
export function conv1d(input: Tensor, weight: Tensor, bias?: Tensor | null, o: { stride?: number; padding?: number; dilation?: number; groups?: number } = {}): Tensor {
  return call('aten::conv1d', [input, weight, bias ?? null, o.stride ?? 1, o.padding ?? 0, o.dilation ?? 1, o.groups ?? 1]);
}

export function groupNorm(input: Tensor, numGroups: number, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return call('aten::group_norm', [input, numGroups, weight ?? null, bias ?? null, eps, true]);
}
export function layerNorm(input: Tensor, normalizedShape: number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return call('aten::layer_norm', [input, normalizedShape, weight ?? null, bias ?? null, eps, true]);
}
export function batchNorm(
  input: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null, bias: Tensor | null,
  training: boolean, momentum = 0.1, eps = 1e-5,
): Tensor {
  return call('aten::batch_norm', [input, weight, bias, runningMean, runningVar, training, momentum, eps, true]);
}

export function relu(x: Tensor): Tensor { return x.relu(); }
export function silu(x: Tensor): Tensor { return x.silu(); }
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor { return x.gelu(approximate); }
export function sigmoid(x: Tensor): Tensor { return x.sigmoid(); }
export function tanh(x: Tensor): Tensor { return x.tanh(); }
export function softmax(x: Tensor, dim: number, dtype?: DType): Tensor { return x.softmax(dim, dtype); }
export function logSoftmax(x: Tensor, dim: number, dtype?: DType): Tensor { return x.logSoftmax(dim, dtype); }

/** Inverted dropout: zeroes with probability p and scales the rest by 1/(1-p) when training. */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  if (p < 0 || p > 1) throw new RangeError(`dropout probability must be in [0, 1], got ${p}`);
  return call('aten::dropout', [x, p, training]);
}

export interface InterpolateOptions {
  size?: number[];
  scaleFactor?: number | number[];
  mode?: 'nearest' | 'bilinear' | 'bicubic' | 'area';
  alignCorners?: boolean;
  antialias?: boolean;
}
/** Resizes (N, C, H, W) images (torch.nn.functional.interpolate). */
export function interpolate(input: Tensor, o: InterpolateOptions): Tensor {
  const mode = o.mode ?? 'nearest';
  if ((o.size === undefined) === (o.scaleFactor === undefined)) {
    throw new TypeError('interpolate: give exactly one of size and scaleFactor');
  }
  const scales = o.scaleFactor === undefined ? null : typeof o.scaleFactor === 'number' ? [o.scaleFactor, o.scaleFactor] : o.scaleFactor;
  const [h, w] = input.shape.slice(-2) as [number, number];
  const size = o.size ?? [Math.floor(h * scales![0]!), Math.floor(w * scales![1]!)];
  switch (mode) {
    case 'nearest':
      return call('aten::upsample_nearest2d.vec', [input, o.size ?? null, scales]);
    case 'bilinear':
      return o.antialias
        ? call('aten::_upsample_bilinear2d_aa.vec', [input, size, o.alignCorners ?? false, scales])
        : call('aten::upsample_bilinear2d.vec', [input, o.size ?? null, o.alignCorners ?? false, scales]);
    case 'bicubic':
      return o.antialias
        ? call('aten::_upsample_bicubic2d_aa.vec', [input, size, o.alignCorners ?? false, scales])
        : call('aten::upsample_bicubic2d.vec', [input, o.size ?? null, o.alignCorners ?? false, scales]);
    case 'area':
      return call('aten::adaptive_avg_pool2d', [input, size]);
  }
}

export interface Pool2dOptions {
  stride?: Pair;
  padding?: Pair;
  ceilMode?: boolean;
}
export function avgPool2d(input: Tensor, kernelSize: Pair, o: Pool2dOptions & { countIncludePad?: boolean } = {}): Tensor {
  return call('aten::avg_pool2d', [input, kernelSize, o.stride ?? kernelSize, o.padding ?? 0, o.ceilMode ?? false, o.countIncludePad ?? true, null]);
}
export function maxPool2d(input: Tensor, kernelSize: Pair, o: Pool2dOptions & { dilation?: Pair } = {}): Tensor {
  return call('aten::max_pool2d', [input, kernelSize, o.stride ?? kernelSize, o.padding ?? 0, o.dilation ?? 1, o.ceilMode ?? false]);
}
export function adaptiveAvgPool2d(input: Tensor, outputSize: Pair): Tensor {
  return call('aten::adaptive_avg_pool2d', [input, typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize]);
}

/**
 * Pads the last dimensions: `pad` lists (left, right) for the last dim, then the one before, as
 * torch.nn.functional.pad.
 */
export function pad(input: Tensor, padding: number[], mode: 'constant' | 'reflect' | 'replicate' | 'circular' = 'constant', value = 0): Tensor {
  if (padding.length % 2 !== 0) throw new RangeError(`pad: padding needs (left, right) pairs, got ${padding.length} values`);
  if (mode === 'constant') return call('aten::constant_pad_nd', [input, padding, value]);
  const dims = padding.length / 2;
  const name = mode === 'reflect' ? 'reflection_pad' : mode === 'replicate' ? 'replication_pad' : null;
  if (name === null) return call('aten::_pad_circular', [input, padding]);
  return call(`aten::${name}${dims}d`, [input, padding]);
}

/** One-hot encoding of int64 class indices (int64 result, as PyTorch). */
export function oneHot(indices: Tensor, numClasses = -1): Tensor {
  return call('aten::one_hot', [indices, numClasses]);
}

/** Draws indices from each row of probabilities. */
export function multinomial(probs: Tensor, numSamples: number, replacement = false, generator?: Generator): Tensor {
  return call('aten::multinomial', [probs, numSamples, replacement], { generator });
}

export function embedding(input: Tensor, weight: Tensor, paddingIdx = -1): Tensor {
  return call('aten::embedding', [weight, input, paddingIdx, false, false]);
}

export function mseLoss(input: Tensor, target: Tensor, reduction: 'mean' | 'sum' | 'none' = 'mean'): Tensor {
  return call('aten::mse_loss', [input, target, REDUCTION[reduction]]);
}
export function l1Loss(input: Tensor, target: Tensor, reduction: 'mean' | 'sum' | 'none' = 'mean'): Tensor {
  return call('aten::l1_loss', [input, target, REDUCTION[reduction]]);
}
export function smoothL1Loss(input: Tensor, target: Tensor, reduction: 'mean' | 'sum' | 'none' = 'mean', beta = 1): Tensor {
  return call('aten::smooth_l1_loss', [input, target, REDUCTION[reduction], beta]);
}
export function huberLoss(input: Tensor, target: Tensor, reduction: 'mean' | 'sum' | 'none' = 'mean', delta = 1): Tensor {
  return call('aten::huber_loss', [input, target, REDUCTION[reduction], delta]);
}
/** Cross-entropy of logits (N, C) against int64 targets (N). */
export function crossEntropy(logits: Tensor, target: Tensor, reduction: 'mean' | 'sum' | 'none' = 'mean', labelSmoothing = 0): Tensor {
  return call('aten::cross_entropy_loss', [logits, target, null, REDUCTION[reduction], -100, labelSmoothing]);
}
const REDUCTION = { none: 0, mean: 1, sum: 2 } as const;

/**
 * Scaled dot-product attention softmax(q kᵀ / √d) v over (..., L, d) tensors, written out so it
 * works on every libtorch version (1.13 has no fused kernel).
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, mask?: Tensor | null): Tensor {
  const d = q.size(-1);
  const kt = k.transpose(-2, -1);
  const scores = q.matmul(kt);
  kt.dispose();
  scores.mul_(1 / Math.sqrt(d));
  if (mask) {
    const masked = scores.maskedFill(mask.logicalNot(), -Infinity);
    scores.dispose();
    const w = masked.softmax(-1);
    masked.dispose();
    const out = w.matmul(v);
    w.dispose();
    return out;
  }
  const w = scores.softmax(-1);
  scores.dispose();
  const out = w.matmul(v);
  w.dispose();
  return out;
}
