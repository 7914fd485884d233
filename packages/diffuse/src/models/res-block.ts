// The UNet's residual block (improved-diffusion's ResBlock), with guided-diffusion's up/down
// sampling inside the block (BigGAN style) for resblock_updown.
import * as torch from '@diffuse/torch';
import { nn, type Tensor, type Generator } from '@diffuse/torch';
import { maybeCheckpoint } from './checkpoint.js';
import { Downsample, normalization, TimestepBlock, Upsample, zeroModule } from './layers.js';
import { normAct, type ComputeDtype } from './norm-act.js';

export interface ResBlockOptions {
  /** Input channels. */
  channels: number;
  /** Width of the timestep embedding. */
  embChannels: number;
  /** Dropout before the second conv. */
  dropout: number;
  /** Output channels (default: channels). */
  outChannels?: number;
  /** Use a 3×3 conv instead of a 1×1 conv for the skip connection when channels change. */
  useConv?: boolean;
  /** FiLM-like conditioning: GroupNorm(h)·(1 + scale) + shift instead of h + emb. */
  useScaleShiftNorm?: boolean;
  /** Upsample ×2 inside the block. */
  up?: boolean;
  /** Downsample ×2 inside the block. */
  down?: boolean;
  /** Gradient checkpointing. */
  useCheckpoint?: boolean;
  generator?: Generator;
}

/** A residual block conditioned on the timestep embedding; children named as improved-diffusion. */
export class ResBlock extends TimestepBlock {
  readonly outChannels: number;
  readonly useScaleShiftNorm: boolean;
  readonly useCheckpoint: boolean;
  readonly inLayers: nn.Sequential; // GroupNorm, SiLU, conv3×3
  readonly resample: Upsample | Downsample | null; // guided-diffusion's h_upd / x_upd (no parameters)
  readonly embLayers: nn.Sequential; // SiLU, Linear
  readonly outLayers: nn.Sequential; // GroupNorm, SiLU, Dropout, zero conv3×3
  readonly skipConnection: nn.UnaryModule;
  readonly dropout: number;
  /** The dtype handed to the convs after the norms ('bfloat16' for bfloat16 convolutions). */
  computeDtype: ComputeDtype = 'float32';

  constructor(o: ResBlockOptions) {
    super();
    const c = o.channels;
    const out = o.outChannels ?? c;
    const generator = o.generator;
    this.outChannels = out;
    this.dropout = o.dropout;
    this.useScaleShiftNorm = o.useScaleShiftNorm ?? false;
    this.useCheckpoint = o.useCheckpoint ?? false;
    this.inLayers = this.registerModule('in_layers', new nn.Sequential(normalization(c), new nn.SiLU(), new nn.Conv2d(c, out, 3, { padding: 1, generator })));
    if (o.up && o.down) throw new RangeError('ResBlock: up and down are exclusive');
    this.resample = o.up ? new Upsample(c, false) : o.down ? new Downsample(c, false) : null;
    this.embLayers = this.registerModule(
      'emb_layers',
      new nn.Sequential(new nn.SiLU(), new nn.Linear(o.embChannels, this.useScaleShiftNorm ? 2 * out : out, { generator })),
    );
    this.outLayers = this.registerModule(
      'out_layers',
      new nn.Sequential(normalization(out), new nn.SiLU(), new nn.Dropout(o.dropout), zeroModule(new nn.Conv2d(out, out, 3, { padding: 1, generator }))),
    );
    this.skipConnection = this.registerModule(
      'skip_connection',
      out === c ? new nn.Identity() : new nn.Conv2d(c, out, o.useConv ? 3 : 1, { padding: o.useConv ? 1 : 0, generator }),
    );
  }

  /**
   * @param x (B, C, H, W).
   * @param emb (B, E).
   * @returns (B, outC, H', W') with H' = 2H, H/2 or H.
   */
  forward(x: Tensor, emb: Tensor): Tensor {
    const randomized = this.training && this.dropout > 0;
    return maybeCheckpoint((xi, ei) => this.block(xi!, ei!), [x, emb], { enabled: this.useCheckpoint, preserveRng: randomized });
  }

  private block(x: Tensor, emb: Tensor): Tensor {
    return torch.tidy(() => {
      // The SiLU and Dropout modules stay in the Sequentials (improved-diffusion's structure and
      // names); normAct runs norm, activation and dropout as one fused op.
      const [inNorm, , inConv] = this.inLayers.layers as [nn.GroupNorm, nn.UnaryModule, nn.UnaryModule];
      const computeDtype = this.computeDtype;
      let h = normAct(inNorm, x, { silu: true, computeDtype }); // (B, C, H, W)
      let skipIn = x;
      if (this.resample !== null) {
        // Resample after the activation and before the conv, the input likewise (guided-diffusion).
        h = this.resample.forward(h); // (B, C, H', W')
        skipIn = this.resample.forward(x); // (B, C, H', W')
      }
      h = inConv.forward(h); // (B, outC, H', W')
      const embOut = this.embLayers.forward(emb).to(h.dtype).unsqueeze(-1).unsqueeze(-1); // (B, outC or 2·outC, 1, 1)
      const [outNorm, , dropout, outConv] = this.outLayers.layers as [nn.GroupNorm, nn.UnaryModule, nn.Dropout, nn.UnaryModule];
      if (this.useScaleShiftNorm) {
        const [scale, shift] = embOut.chunk(2, 1) as [Tensor, Tensor]; // (B, outC, 1, 1) each
        h = normAct(outNorm, h, { scale, shift, silu: true, dropout, computeDtype }); // (B, outC, H', W')
      } else {
        h = normAct(outNorm, h.add(embOut), { silu: true, dropout, computeDtype }); // (B, outC, H', W')
      }
      return this.skipConnection.forward(skipIn).add(outConv.forward(h)); // (B, outC, H', W')
    });
  }
}
