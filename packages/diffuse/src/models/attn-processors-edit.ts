// Attention processors for editing: they keep each layer's queries and take its keys and values
// from elsewhere.
//   - K/V injection (as in Prompt-to-Prompt / MasaCtrl's mutual self-attention): a reference pass
//     records K, V per layer and timestep (KvRecordProcessor into a KvStore); a later pass at the
//     same timesteps attends to them instead of its own (KvInjectionProcessor).
//   - Cross-frame attention (Text2Video-Zero, Khachatryan et al. 2023; with the previous frame as
//     in Tune-A-Video's sparse causal attention): frame j of a batch of frames attends to the
//     K, V of frame 0 and frame j−1, so a sequence edited frame by frame stays consistent.
//   - Attention interpolation (DiffMorpher, Zhang et al. 2024, sec. 3.3): an in-between image at
//     α attends to (1−α)·K_A + α·K_B and (1−α)·V_A + α·V_B from the passes of its two ends.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { attend, splitHeads, type AttentionCall, type AttnProcessor } from './attn-processor.js';

/** The key of a call in a store: the layer path and the call's (first) timestep. */
function callKey(call: AttentionCall): string {
  return `${call.path}@${call.timesteps === null ? '-' : call.timesteps.flatten().select(0, 0).item()}`;
}

/** Recorded keys and values, by layer and timestep; owns its tensors (dispose() frees them). */
export class KvStore {
  private readonly entries = new Map<string, { k: Tensor; v: Tensor }>();

  /** How many (layer, timestep) pairs are held. */
  get size(): number {
    return this.entries.size;
  }

  /** Stores k, v (B, H, C, T) of a call (copies, outside every scope), replacing an earlier pair. */
  record(call: AttentionCall, k: Tensor, v: Tensor): void {
    const key = callKey(call);
    const old = this.entries.get(key);
    old?.k.dispose();
    old?.v.dispose();
    this.entries.set(key, { k: k.contiguous().clone().keep(), v: v.contiguous().clone().keep() });
  }

  /**
   * The pair recorded for this call's layer and timestep.
   * @throws Error when none was recorded (the reference pass used other timesteps or layers).
   */
  get(call: AttentionCall): { k: Tensor; v: Tensor } {
    const e = this.entries.get(callKey(call));
    if (e === undefined) throw new Error(`K/V store: nothing recorded for layer '${call.path}' at this timestep (${callKey(call)}); run the reference pass with the same sampler and steps`);
    return e;
  }

  /** Frees every held tensor. */
  dispose(): void {
    for (const e of this.entries.values()) {
      e.k.dispose();
      e.v.dispose();
    }
    this.entries.clear();
  }
}

/**
 * A reference batch of R (R divides B) for a batch of B: element i gets reference ⌊i / (B/R)⌋,
 * so one reference serves a whole batch and a classifier-free-guided [cond; uncond] pair of
 * references serves a guided batch.
 * @param ref (R, …); @param b B.
 * @returns (B, …).
 */
function broadcastRef(ref: Tensor, b: number): Tensor {
  const r = ref.size(0);
  if (r === b) return ref;
  if (b % r !== 0) throw new Error(`attention processor: a reference batch of ${r} cannot serve a batch of ${b}`);
  return ref.repeatInterleave(b / r, 0); // (B, H, C, S)
}

/** The default attention, and the layer's K, V recorded into a store (the reference pass). */
export class KvRecordProcessor implements AttnProcessor {
  readonly name = 'kv-record';
  /** @param store where K, V go. */
  constructor(readonly store: KvStore) {}
  process(call: AttentionCall): Tensor {
    return torch.tidy(() => {
      const { q, k, v } = splitHeads(call.qkv, call.numHeads, call.newOrder); // (B, H, C, T) each
      this.store.record(call, k, v);
      return attend(q, k, v); // (B, H·C, T)
    });
  }
}

/** Attention with this pass's queries over the K, V a reference pass recorded (same layer and timestep). */
export class KvInjectionProcessor implements AttnProcessor {
  readonly name = 'kv-injection';
  /** @param store the reference pass's K, V (batch 1, or R dividing the batch). */
  constructor(readonly store: KvStore) {}
  process(call: AttentionCall): Tensor {
    return torch.tidy(() => {
      const { q } = splitHeads(call.qkv, call.numHeads, call.newOrder); // (B, H, C, T)
      const ref = this.store.get(call);
      const b = q.size(0);
      return attend(q, broadcastRef(ref.k, b), broadcastRef(ref.v, b)); // (B, H·C, T)
    });
  }
}

/**
 * Cross-frame attention: the batch holds groups of `frames` consecutive frames (one group, or a
 * classifier-free-guided [cond; uncond] pair of groups); frame j attends to the tokens of frame 0
 * and frame max(j − 1, 0), concatenated. On identical frames this equals self-attention (the
 * keys appear twice, which leaves softmax-weighted means unchanged).
 */
export class CrossFrameAttnProcessor implements AttnProcessor {
  readonly name = 'cross-frame';
  /** @param frames F, the length of the sequence (the batch must be a multiple of it). */
  constructor(readonly frames: number) {
    if (!(Number.isInteger(frames) && frames >= 1)) throw new RangeError(`CrossFrameAttnProcessor: frames must be a positive integer, got ${frames}`);
  }
  process(call: AttentionCall): Tensor {
    return torch.tidy(() => {
      const { q, k, v } = splitHeads(call.qkv, call.numHeads, call.newOrder); // (B, H, C, T) each
      const [b, h, ch, length] = q.shape as [number, number, number, number];
      const f = this.frames;
      if (b % f !== 0) throw new Error(`cross-frame attention: a batch of ${b} is not a multiple of ${f} frames`);
      const g = b / f;
      const first = torch.tensor(BigInt64Array.from({ length: f }, () => 0n), { device: q.device }); // (F,)
      const prev = torch.tensor(BigInt64Array.from({ length: f }, (_, j) => BigInt(Math.max(j - 1, 0))), { device: q.device }); // (F,)
      const gather = (t: Tensor): Tensor => {
        const grouped = t.reshape([g, f, h, ch, length]); // (G, F, H, C, T)
        const both = torch.cat([grouped.indexSelect(1, first), grouped.indexSelect(1, prev)], 4); // (G, F, H, C, 2T)
        return both.reshape([b, h, ch, 2 * length]); // (B, H, C, 2T)
      };
      return attend(q, gather(k), gather(v)); // (B, H·C, T)
    });
  }
}

/**
 * Attention interpolation for morphs: element i of the batch, at α_i = alphas[i mod n], attends
 * to the lerp of the K, V recorded by the passes of the two ends A (α = 0) and B (α = 1).
 */
export class InterpolatingAttnProcessor implements AttnProcessor {
  readonly name = 'interpolating';
  /**
   * @param storeA K, V of the pass of A; @param storeB of B (same sampler, steps, batch layout).
   * @param alphas α per image (n values; the batch is a multiple of n, e.g. 2n under guidance).
   */
  constructor(readonly storeA: KvStore, readonly storeB: KvStore, readonly alphas: readonly number[]) {
    if (alphas.length === 0) throw new RangeError('InterpolatingAttnProcessor: no alphas');
  }
  process(call: AttentionCall): Tensor {
    return torch.tidy(() => {
      const { q } = splitHeads(call.qkv, call.numHeads, call.newOrder); // (B, H, C, T)
      const b = q.size(0);
      const n = this.alphas.length;
      if (b % n !== 0) throw new Error(`attention interpolation: a batch of ${b} is not a multiple of ${n} alphas`);
      const alpha = torch.tensor(Float32Array.from({ length: b }, (_, i) => this.alphas[i % n]!), { device: q.device }).reshape([b, 1, 1, 1]).to(q.dtype); // (B, 1, 1, 1)
      // The ends' references are laid out per group of n (e.g. [cond; uncond]): spread them so.
      const a = this.storeA.get(call);
      const e = this.storeB.get(call);
      const k = broadcastRef(a.k, b).lerp(broadcastRef(e.k, b), alpha); // (B, H, C, T)
      const v = broadcastRef(a.v, b).lerp(broadcastRef(e.v, b), alpha); // (B, H, C, T)
      return attend(q, k, v); // (B, H·C, T)
    });
  }
}

/**
 * A setting for setAttnProcessor that puts a processor on the decoder's layers only
 * ('output_blocks.*', the "up blocks"), keeping every other layer's processor — the default
 * placement of cross-frame attention (Text2Video-Zero replaces the decoder's self-attention).
 * @param processor the processor; @param where which paths get it (default: the up blocks).
 */
export function onLayers(
  processor: AttnProcessor,
  where: (path: string) => boolean = (path) => path.startsWith('output_blocks.'),
): (path: string, current: AttnProcessor) => AttnProcessor {
  return (path, current) => (where(path) ? processor : current);
}
