// Spatial self-attention for the UNet (improved-diffusion's AttentionBlock / QKVAttention), with
// guided-diffusion's head options: a fixed width per head, and the "new" q/k/v channel order.
import * as torch from '@diffuse/torch';
import { nn, type Tensor, type Generator } from '@diffuse/torch';
import { maybeCheckpoint } from './checkpoint.js';
import { normalization, zeroModule } from './layers.js';
import { normAct, type ComputeDtype } from './norm-act.js';

/**
 * Multi-head QKV attention over packed (B, 3·H·C, T) projections.
 * @param qkv (B, 3·H·C, T).
 * @param numHeads H.
 * @param newOrder false: improved-diffusion's layout, per head [q, k, v] (its checkpoints);
 *   true: guided-diffusion's QKVAttention, [q of all heads, k of all heads, v of all heads].
 * @returns (B, H·C, T).
 */
export function qkvAttention(qkv: Tensor, numHeads: number, newOrder: boolean): Tensor {
  // The fused kernel computes the same in float32 (tested against PyTorch's eager attention).
  if (torch.packedAttentionSupported(qkv)) return torch.packedAttention(qkv, numHeads, newOrder ? 'per-kind' : 'per-head');
  return qkvAttentionEager(qkv, numHeads, newOrder);
}

/** qkvAttention composed of eager ops: the path off the CPU (and for float64). */
function qkvAttentionEager(qkv: Tensor, numHeads: number, newOrder: boolean): Tensor {
  return torch.tidy(() => {
    const [b, width, length] = qkv.shape as [number, number, number];
    const ch = width / (3 * numHeads);
    let q: Tensor, k: Tensor, v: Tensor; // (B·H, C, T) each
    if (newOrder) {
      [q, k, v] = qkv.chunk(3, 1).map((t) => t.reshape([b * numHeads, ch, length])) as [Tensor, Tensor, Tensor];
    } else {
      [q, k, v] = qkv.reshape([b * numHeads, 3 * ch, length]).split(ch, 1) as [Tensor, Tensor, Tensor];
    }
    // Both sides scaled by C^(-1/4) rather than one by C^(-1/2): more stable in half precision.
    const scale = 1 / Math.sqrt(Math.sqrt(ch));
    const logits = q.mul(scale).transpose(1, 2).matmul(k.mul(scale)); // (B·H, T, S)
    const weight = logits.softmax(-1, 'float32').to(logits.dtype); // (B·H, T, S)
    const a = v.matmul(weight.transpose(1, 2)); // (B·H, C, T)
    return a.reshape([b, numHeads * ch, length]); // (B, H·C, T)
  });
}

export interface AttentionBlockOptions {
  channels: number;
  /** Number of heads (used when numHeadChannels is −1). */
  numHeads?: number;
  /** Channels per head; −1 to use numHeads instead. */
  numHeadChannels?: number;
  /** guided-diffusion's q/k/v order (see qkvAttention). */
  useNewAttentionOrder?: boolean;
  useCheckpoint?: boolean;
  generator?: Generator;
}

/** Self-attention across all spatial positions, as a residual block (children norm, qkv, proj_out). */
export class AttentionBlock extends nn.Module {
  readonly numHeads: number;
  readonly useNewAttentionOrder: boolean;
  readonly useCheckpoint: boolean;
  readonly norm: nn.GroupNorm;
  readonly qkv: nn.Conv1d;
  readonly projOut: nn.Conv1d;
  /** The dtype handed to the qkv conv after the norm ('bfloat16' for bfloat16 convolutions). */
  computeDtype: ComputeDtype = 'float32';

  constructor(o: AttentionBlockOptions) {
    super();
    const c = o.channels;
    const headChannels = o.numHeadChannels ?? -1;
    if (headChannels !== -1 && c % headChannels !== 0) {
      throw new RangeError(`AttentionBlock: ${c} channels are not divisible by numHeadChannels ${headChannels}`);
    }
    this.numHeads = headChannels === -1 ? (o.numHeads ?? 1) : c / headChannels;
    if (c % this.numHeads !== 0) throw new RangeError(`AttentionBlock: ${c} channels are not divisible by ${this.numHeads} heads`);
    this.useNewAttentionOrder = o.useNewAttentionOrder ?? false;
    this.useCheckpoint = o.useCheckpoint ?? false;
    this.norm = this.registerModule('norm', normalization(c));
    this.qkv = this.registerModule('qkv', new nn.Conv1d(c, 3 * c, 1, { generator: o.generator }));
    this.projOut = this.registerModule('proj_out', zeroModule(new nn.Conv1d(c, c, 1, { generator: o.generator })));
  }

  /**
   * @param x (B, C, H, W).
   * @returns (B, C, H, W).
   */
  forward(x: Tensor): Tensor {
    return maybeCheckpoint((xi) => this.block(xi!), [x], { enabled: this.useCheckpoint, preserveRng: false });
  }

  private block(x: Tensor): Tensor {
    return torch.tidy(() => {
      const [b, c, ...spatial] = x.shape as [number, number, ...number[]];
      const flat = x.reshape([b, c, -1]); // (B, C, T)
      const qkv = this.qkv.forward(normAct(this.norm, flat, { computeDtype: this.computeDtype })); // (B, 3C, T)
      const h = this.projOut.forward(qkvAttention(qkv, this.numHeads, this.useNewAttentionOrder)); // (B, C, T)
      const out = flat.add(h).reshape([b, c, ...spatial]); // (B, C, H, W)
      // Hand channels-last back to a channels-last model (its convs and norms run in that layout).
      return nn.isChannelsLast(x) ? out.contiguous('channelsLast') : out;
    });
  }
}
