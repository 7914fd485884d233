// Spatial self-attention for the UNet (improved-diffusion's AttentionBlock / QKVAttention), with
// guided-diffusion's head options: a fixed width per head, and the "new" q/k/v channel order.
import * as torch from '@diffuse/torch';
import { nn, type Tensor, type Generator } from '@diffuse/torch';
import { DEFAULT_ATTN_PROCESSOR, type AttentionContext, type AttnProcessor } from './attn-processor.js';
export { qkvAttention } from './attn-processor.js';
import { maybeCheckpoint } from './checkpoint.js';
import { normalization, zeroModule } from './layers.js';
import { normAct, type ComputeDtype } from './norm-act.js';

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
  /** What computes the attention from the packed projections (the model sets it: UNet.setAttnProcessor). */
  processor: AttnProcessor = DEFAULT_ATTN_PROCESSOR;
  /** This layer's module path in its model ('' on its own), handed to the processor. */
  path = '';
  /** The enclosing model's call context (its timesteps), shared by all its attention layers. */
  context: AttentionContext | null = null;

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
      const heads = this.processor.process({
        path: this.path, qkv, numHeads: this.numHeads, newOrder: this.useNewAttentionOrder, timesteps: this.context?.timesteps ?? null,
      }); // (B, C, T)
      const h = this.projOut.forward(heads); // (B, C, T)
      const out = flat.add(h).reshape([b, c, ...spatial]); // (B, C, H, W)
      // Hand channels-last back to a channels-last model (its convs and norms run in that layout).
      return nn.isChannelsLast(x) ? out.contiguous('channelsLast') : out;
    });
  }
}
