// Mixed precision for convolutions: float32 parameters and activations, with the convolution
// itself run in a lower precision. On CPUs with AMX-BF16 or AVX512-BF16, oneDNN's bfloat16
// convolutions are 3–5× faster than float32 ones (docs/performance.md), while the residual stream,
// norms, softmax, losses and the optimizer's master weights stay float32, as torch.autocast does.
import { call } from '../dispatch.js';
import type { DType } from '../dtype.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

/** The dtypes a convolution may compute in. */
export type ComputeDType = 'float32' | 'bfloat16';

/** A module whose heavy op can run in another precision than its parameters. */
export interface HasComputeDType {
  computeDtype: ComputeDType;
}

function hasComputeDType(m: Module): m is Module & HasComputeDType {
  return typeof (m as Partial<HasComputeDType>).computeDtype === 'string';
}

/**
 * Sets the compute dtype of every module in a tree that has one (Conv1d, Conv2d, and model blocks
 * that opt in). Parameters are not touched: they stay float32 masters, gradients arrive float32.
 * @param root the model.
 * @param dtype 'bfloat16' for mixed precision, 'float32' for full precision.
 * @returns the number of modules changed.
 */
export function setComputeDtype(root: Module, dtype: ComputeDType): number {
  let n = 0;
  for (const m of root.modules()) {
    if (hasComputeDType(m)) {
      m.computeDtype = dtype;
      n++;
    }
  }
  return n;
}

/**
 * Runs `op` on the input, weight and bias in `dtype` (casts are differentiable: gradients flow
 * back to the float32 masters). An input already in `dtype` stays there and so does the output
 * (a model that keeps its activations in bfloat16 pays no casts); a float32 input is cast in and
 * the output cast back, so a lone layer behaves like its float32 self.
 * @param x the activation (float32, or already `dtype`).
 * @param weight the float32 weight.
 * @param bias the float32 bias, or null.
 * @param dtype the compute dtype.
 * @param op the convolution.
 * @returns op's output in x's dtype.
 */
export function castedCall(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  dtype: DType,
  op: (x: Tensor, weight: Tensor, bias: Tensor | null) => Tensor,
): Tensor {
  // oneDNN's bfloat16 kernels work in channels-last: giving them that layout saves the reorder of
  // every input (the cast does both in one pass).
  const lowIn = x.dtype === dtype;
  const xl = lowIn ? x : layoutCast(x, dtype, x.ndim === 4);
  const wl = layoutCast(weight, dtype, weight.ndim === 4 && isChannelsLast(xl));
  const bl = bias?.to(dtype) ?? null;
  const yl = op(xl, wl, bl);
  const y = lowIn ? yl : layoutCast(yl, x.dtype, false);
  for (const t of [xl, wl, bl, yl]) if (t !== null && t !== x && t !== y) t.dispose();
  return y;
}

/**
 * Changes dtype and (for 4-d tensors) memory layout in one pass; the gradient returns in x's dtype
 * and layout (native diffuse::layout_cast; aten::to would hand gradients back in the new layout,
 * leaving the NCHW ops before it to run on mixed strides).
 * @param x any tensor.
 * @param dtype the new dtype.
 * @param channelsLast true: NHWC memory order (x must be 4-d); false: contiguous NCHW.
 */
export function layoutCast(x: Tensor, dtype: DType, channelsLast: boolean): Tensor {
  return call('diffuse::layout_cast', [x, dtype, channelsLast]);
}

/** Whether x is a 4-d tensor laid out channels-last (NHWC in memory) and not also plain contiguous. */
export function isChannelsLast(x: Tensor): boolean {
  return x.ndim === 4 && x.isContiguous('channelsLast') && !x.isContiguous();
}

/** Whether a call should take the mixed path: a lower compute dtype than the float32 weights, from float32 or already-low input. */
export function useComputeDType(m: HasComputeDType, x: Tensor, weight: Tensor): boolean {
  const fromFloat = x.dtype === 'float32' || x.dtype === m.computeDtype;
  return m.computeDtype !== weight.dtype && weight.dtype === 'float32' && fromFloat;
}
