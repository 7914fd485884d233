// The UNet's normalisation chains — GroupNorm → (scale-shift) → (SiLU) → (dropout) — as one
// fused op (@diffuse/torch's groupNormAct) where it applies, else as the module composition.
import * as torch from '@diffuse/torch';
import type { nn, Tensor } from '@diffuse/torch';

/**
 * The dtype of the activations a norm chain hands to the next conv: 'float32' keeps the input's
 * dtype, 'bfloat16' emits bfloat16 (for bfloat16 convolutions) without a separate cast pass.
 */
export type ComputeDtype = nn.ComputeDType;

export interface NormActOptions {
  /** FiLM scale (B, C, 1, 1): norm(x)·(1 + scale) + shift. */
  scale?: Tensor;
  /** FiLM shift (B, C, 1, 1); given together with scale. */
  shift?: Tensor;
  /** SiLU after the (scale-shifted) norm. */
  silu?: boolean;
  /** Dropout last (its p; active when the module is training). */
  dropout?: nn.Dropout;
  computeDtype?: ComputeDtype;
}

/**
 * dropout(silu(norm(x)·(1 + scale) + shift)), with the parts not asked for left out. Fused on CPU
 * float32/bfloat16 inputs (norm statistics in float32, as GroupNorm32); other devices and dtypes
 * run the composition of the same modules.
 * @param norm the GroupNorm module (its groups, ε, weight and bias).
 * @param x (B, C, *spatial).
 * @param o scale/shift, silu, dropout module, computeDtype.
 * @returns (B, C, *spatial), bfloat16 when computeDtype is 'bfloat16', else x's dtype.
 */
export function normAct(norm: nn.GroupNorm, x: Tensor, o: NormActOptions = {}): Tensor {
  const outDtype = o.computeDtype === 'bfloat16' ? 'bfloat16' : x.dtype;
  if (x.device === 'cpu' && (x.dtype === 'float32' || x.dtype === 'bfloat16')) {
    return torch.groupNormAct(x, norm.numGroups, norm.weight, norm.bias, {
      scale: o.scale, shift: o.shift, eps: norm.o.eps ?? 1e-5, silu: o.silu ?? false,
      dropout: o.dropout?.p ?? 0, training: o.dropout?.training ?? false, outDtype,
    });
  }
  return torch.tidy(() => {
    let h = norm.forward(x); // (B, C, *spatial)
    if (o.scale !== undefined) h = h.mul(o.scale.add(1)).add(o.shift ?? 0);
    if (o.silu) h = h.silu();
    if (o.dropout !== undefined) h = o.dropout.forward(h);
    return h.dtype === outDtype ? h : h.to(outDtype);
  });
}
