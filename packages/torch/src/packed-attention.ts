// Fused multi-head self-attention over packed channel-first projections (native
// diffuse::packed_attention): each (batch, head) pair's scores are made, softmaxed and consumed in
// cache on the intra-op threads, and the backward recomputes them instead of storing (B·H, T, T).
import { call } from './dispatch.js';
import type { Tensor } from './tensor.js';

/** Where q, k and v of each head sit among the 3·H·C channels of the packed projection. */
export type PackedQkvOrder =
  /** Per head [q, k, v] (improved-diffusion's QKVAttentionLegacy). */
  | 'per-head'
  /** [q of all heads, k of all heads, v of all heads] (guided-diffusion's QKVAttention). */
  | 'per-kind';

/**
 * softmax(qᵀk / √C) applied to v for every head, fused. Differentiable; computes in float32 and
 * returns the input's dtype (float32 or bfloat16); CPU tensors only (`packedAttentionSupported`).
 * @param qkv (B, 3·H·C, T) packed projections.
 * @param numHeads H.
 * @param order the channel layout of q, k, v.
 * @returns (B, H·C, T), head h's output in channels [h·C, (h+1)·C).
 */
export function packedAttention(qkv: Tensor, numHeads: number, order: PackedQkvOrder = 'per-head'): Tensor {
  return call('diffuse::packed_attention', [qkv, numHeads, order === 'per-head' ? 0 : 1]);
}

/** Whether packedAttention can take this tensor (CPU, float32 or bfloat16). */
export function packedAttentionSupported(qkv: Tensor): boolean {
  return qkv.device === 'cpu' && (qkv.dtype === 'float32' || qkv.dtype === 'bfloat16');
}
