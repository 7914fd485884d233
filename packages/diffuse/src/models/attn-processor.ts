// Replaceable attention (diffusers' AttnProcessor): every AttentionBlock hands its packed q/k/v
// projections to a processor, which returns the heads' outputs. The default keeps the fused
// packed-attention kernel; the editing processors (attn-processors-edit.ts) swap K and V.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

/** What the UNet tells its attention layers about the current forward call. */
export interface AttentionContext {
  /** The timesteps of the call (B,), as the model sees them; null outside a UNet forward. */
  timesteps: Tensor | null;
}

/** One attention layer's work, as a processor receives it. */
export interface AttentionCall {
  /** The layer's module path, e.g. 'output_blocks.3.1' ('' for a block used on its own). */
  path: string;
  /** Packed projections (B, 3·H·C, T) in the layer's q/k/v order. */
  qkv: Tensor;
  /** H. */
  numHeads: number;
  /** guided-diffusion's order [q all heads, k all heads, v all heads] (true) or per head [q, k, v]. */
  newOrder: boolean;
  /** The timesteps of this model call (B,), or null when the block runs outside a UNet. */
  timesteps: Tensor | null;
}

/** An attention computation: (B, 3·H·C, T) packed projections in, (B, H·C, T) heads' outputs out. */
export interface AttnProcessor {
  /** A short name for listings. */
  readonly name: string;
  /**
   * @param call the layer, its projections and the call's timesteps.
   * @returns (B, H·C, T), head h in channels [h·C, (h+1)·C).
   */
  process(call: AttentionCall): Tensor;
}

/**
 * Multi-head QKV attention over packed (B, 3·H·C, T) projections (improved-diffusion's
 * QKVAttention), through the fused kernel where it applies.
 * @param qkv (B, 3·H·C, T).
 * @param numHeads H.
 * @param newOrder false: improved-diffusion's layout, per head [q, k, v] (its checkpoints);
 *   true: guided-diffusion's QKVAttention, [q of all heads, k of all heads, v of all heads].
 * @returns (B, H·C, T).
 */
export function qkvAttention(qkv: Tensor, numHeads: number, newOrder: boolean): Tensor {
  // The fused kernel computes the same in float32 (tested against PyTorch's eager attention).
  if (torch.packedAttentionSupported(qkv)) return torch.packedAttention(qkv, numHeads, newOrder ? 'per-kind' : 'per-head');
  // Off the CPU (and for float64): the same in eager ops.
  return torch.tidy(() => {
    const { q, k, v } = splitHeads(qkv, numHeads, newOrder);
    return attend(q, k, v); // (B, H·C, T)
  });
}

/** The default: the fused kernel over the packed projections (eager ops off the CPU). */
export class DefaultAttnProcessor implements AttnProcessor {
  readonly name = 'default';
  process(call: AttentionCall): Tensor {
    return qkvAttention(call.qkv, call.numHeads, call.newOrder);
  }
}

/** The one shared default processor (the object every layer starts with). */
export const DEFAULT_ATTN_PROCESSOR: AttnProcessor = new DefaultAttnProcessor();

/** q, k, v of every head, (B, H, C, T) each. */
export interface HeadsQkv {
  q: Tensor;
  k: Tensor;
  v: Tensor;
}

/**
 * Splits packed projections into per-head q, k, v.
 * @param qkv (B, 3·H·C, T); @param numHeads H; @param newOrder the layout (see AttentionCall).
 * @returns q, k, v (B, H, C, T) each (views where the layout allows).
 */
export function splitHeads(qkv: Tensor, numHeads: number, newOrder: boolean): HeadsQkv {
  const [b, width, length] = qkv.shape as [number, number, number];
  const ch = width / (3 * numHeads);
  if (newOrder) {
    const [q, k, v] = qkv.chunk(3, 1).map((t) => t.reshape([b, numHeads, ch, length])) as [Tensor, Tensor, Tensor];
    return { q, k, v };
  }
  const [q, k, v] = qkv.reshape([b, numHeads, 3 * ch, length]).split(ch, 2) as [Tensor, Tensor, Tensor]; // (B, H, C, T) each
  return { q, k, v };
}

/**
 * Plain softmax attention of queries over keys/values that may come from elsewhere (another
 * image, other frames): softmax(qᵀk / √C) applied to v, softmax in float32.
 * @param q (B, H, C, T); @param k (B, H, C, S); @param v (B, H, C, S).
 * @returns (B, H·C, T) in q's dtype.
 */
export function attend(q: Tensor, k: Tensor, v: Tensor): Tensor {
  return torch.tidy(() => {
    const [b, h, ch, length] = q.shape as [number, number, number, number];
    // Both sides scaled by C^(-1/4), as improved-diffusion (more stable in half precision).
    const scale = 1 / Math.sqrt(Math.sqrt(ch));
    const logits = q.mul(scale).transpose(2, 3).matmul(k.mul(scale)); // (B, H, T, S)
    const weight = logits.softmax(-1, 'float32').to(v.dtype); // (B, H, T, S)
    const a = v.matmul(weight.transpose(2, 3)); // (B, H, C, T)
    return a.reshape([b, h * ch, length]).to(q.dtype); // (B, H·C, T)
  });
}

/**
 * The default's computation written in plain torch ops (no fused kernel): a reference for tests
 * and the base the editing processors modify.
 */
export class EagerAttnProcessor implements AttnProcessor {
  readonly name = 'eager';
  process(call: AttentionCall): Tensor {
    return torch.tidy(() => {
      const { q, k, v } = splitHeads(call.qkv, call.numHeads, call.newOrder);
      return attend(q, k, v); // (B, H·C, T)
    });
  }
}

/** What setAttnProcessor takes: one processor for every layer, a map by path, or a function of the path. */
export type AttnProcessorSetting =
  | AttnProcessor
  | Readonly<Record<string, AttnProcessor>>
  | ReadonlyMap<string, AttnProcessor>
  | ((path: string, current: AttnProcessor) => AttnProcessor);

/** A layer path that the model does not have (setAttnProcessor with a map). */
export class UnknownAttnLayerError extends Error {
  constructor(path: string, known: readonly string[]) {
    super(`no attention layer '${path}' (the model has: ${known.length > 0 ? known.join(', ') : 'none'})`);
    this.name = 'UnknownAttnLayerError';
  }
}

/**
 * Resolves a setting against the layers' current processors (diffusers' set_attn_processor: a
 * map must name existing layers, and layers it does not name keep their processor).
 * @param current the processors by path; @param setting what to set.
 * @returns the new processor of every layer.
 * @throws UnknownAttnLayerError for a map entry that names no layer.
 */
export function resolveAttnProcessors(current: ReadonlyMap<string, AttnProcessor>, setting: AttnProcessorSetting): Map<string, AttnProcessor> {
  const out = new Map(current);
  if (typeof setting === 'function') {
    for (const [path, p] of current) out.set(path, setting(path, p));
    return out;
  }
  if ('process' in setting && typeof setting.process === 'function') {
    for (const path of current.keys()) out.set(path, setting as AttnProcessor);
    return out;
  }
  const entries = setting instanceof Map ? [...(setting as ReadonlyMap<string, AttnProcessor>)] : Object.entries(setting as Record<string, AttnProcessor>);
  for (const [path] of entries) if (!current.has(path)) throw new UnknownAttnLayerError(path, [...current.keys()]);
  for (const [path, p] of entries) out.set(path, p);
  return out;
}
