// The convolutional encoder and decoder of the LDM first-stage autoencoders (Rombach et al. 2022,
// after VQGAN's taming/modules/diffusionmodules/model.py): ResNet blocks without a timestep,
// GroupNorm, strided-conv downsampling, nearest + conv upsampling, and one self-attention block
// at the lowest resolution when asked. The bottleneck (KL or VQ) lives in its own file.
import * as torch from '@diffuse/torch';
import { nn, type Tensor, type Generator } from '@diffuse/torch';
import { AttentionBlock } from './attention.js';
import { Downsample, normalization, Upsample } from './layers.js';
import { normAct } from './norm-act.js';

/** The shape of an encoder/decoder pair (LDM's ddconfig, in our names). */
export interface AutoencoderNetOptions {
  /** Image channels (1 or 3). */
  inChannels: number;
  /** Base width (LDM's ch). */
  channels: number;
  /** Width multiplier per level; f = 2^(levels − 1) (LDM's ch_mult). */
  channelMult: number[];
  /** ResNet blocks per level in the encoder (the decoder has one more, as LDM). */
  numResBlocks: number;
  /** Latent channels c (LDM's z_channels). */
  zChannels: number;
  /** Self-attention in the middle block (the lowest resolution). */
  attention: boolean;
  dropout?: number;
  generator?: Generator;
}

/** A residual block without timestep conditioning (LDM's ResnetBlock with temb_channels = 0). */
export class AEResnetBlock extends nn.Module {
  readonly norm1: nn.GroupNorm;
  readonly conv1: nn.Conv2d;
  readonly norm2: nn.GroupNorm;
  readonly dropout: nn.Dropout;
  readonly conv2: nn.Conv2d;
  readonly ninShortcut: nn.Conv2d | null;

  constructor(inChannels: number, outChannels: number, dropout: number, generator?: Generator) {
    super();
    this.norm1 = this.registerModule('norm1', normalization(inChannels));
    this.conv1 = this.registerModule('conv1', new nn.Conv2d(inChannels, outChannels, 3, { padding: 1, generator }));
    this.norm2 = this.registerModule('norm2', normalization(outChannels));
    this.dropout = this.registerModule('dropout', new nn.Dropout(dropout));
    this.conv2 = this.registerModule('conv2', new nn.Conv2d(outChannels, outChannels, 3, { padding: 1, generator }));
    this.ninShortcut = inChannels === outChannels ? null : this.registerModule('nin_shortcut', new nn.Conv2d(inChannels, outChannels, 1, { generator }));
  }

  /** @param x (B, Cin, H, W) @returns (B, Cout, H, W) */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      let h = this.conv1.forward(normAct(this.norm1, x, { silu: true })); // (B, Cout, H, W)
      h = this.conv2.forward(normAct(this.norm2, h, { silu: true, dropout: this.dropout })); // (B, Cout, H, W)
      const skip = this.ninShortcut === null ? x : this.ninShortcut.forward(x); // (B, Cout, H, W)
      return skip.add(h);
    });
  }
}

/** ResNet block, optional attention, ResNet block: the middle of both halves (LDM's mid). */
export class MidBlock extends nn.Module {
  readonly block1: AEResnetBlock;
  readonly attn: AttentionBlock | null;
  readonly block2: AEResnetBlock;
  constructor(c: number, attention: boolean, dropout: number, generator?: Generator) {
    super();
    this.block1 = this.registerModule('block_1', new AEResnetBlock(c, c, dropout, generator));
    this.attn = attention ? this.registerModule('attn_1', new AttentionBlock({ channels: c, numHeads: 1, generator })) : null;
    this.block2 = this.registerModule('block_2', new AEResnetBlock(c, c, dropout, generator));
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      let h = this.block1.forward(x); // (B, C, h, w)
      if (this.attn !== null) h = this.attn.forward(h);
      return this.block2.forward(h);
    });
  }
}

/** The downsampling factor f of a channel multiplier list: 2^(levels − 1). */
export function downsamplingFactor(channelMult: number[]): number {
  return 2 ** (channelMult.length - 1);
}

/** Image → pre-bottleneck moments: (B, Cin, H, W) → (B, outChannels, H/f, W/f). */
export class Encoder extends nn.Module {
  readonly convIn: nn.Conv2d;
  readonly down: nn.Sequential;
  readonly mid: MidBlock;
  readonly normOut: nn.GroupNorm;
  readonly convOut: nn.Conv2d;

  /**
   * @param o the network shape.
   * @param outChannels the bottleneck's input width (2c for KL's mean and log-variance, c for VQ).
   */
  constructor(o: AutoencoderNetOptions, outChannels: number) {
    super();
    const g = o.generator;
    const dropout = o.dropout ?? 0;
    this.convIn = this.registerModule('conv_in', new nn.Conv2d(o.inChannels, o.channels, 3, { padding: 1, generator: g }));
    let c = o.channels;
    const down: nn.UnaryModule[] = [];
    o.channelMult.forEach((mult, level) => {
      const out = o.channels * mult;
      for (let i = 0; i < o.numResBlocks; i++) {
        down.push(new AEResnetBlock(c, out, dropout, g));
        c = out;
      }
      if (level !== o.channelMult.length - 1) down.push(new Downsample(c, true, g));
    });
    this.down = this.registerModule('down', new nn.Sequential(...down));
    this.mid = this.registerModule('mid', new MidBlock(c, o.attention, dropout, g));
    this.normOut = this.registerModule('norm_out', normalization(c));
    this.convOut = this.registerModule('conv_out', new nn.Conv2d(c, outChannels, 3, { padding: 1, generator: g }));
  }

  /** @param x (B, Cin, H, W) in [-1, 1] @returns (B, outChannels, H/f, W/f) */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      const h = this.mid.forward(this.down.forward(this.convIn.forward(x))); // (B, C·mult[-1], H/f, W/f)
      return this.convOut.forward(normAct(this.normOut, h, { silu: true })); // (B, outChannels, H/f, W/f)
    });
  }
}

/** Latent → image: (B, c, h, w) → (B, Cin, h·f, w·f). */
export class Decoder extends nn.Module {
  readonly convIn: nn.Conv2d;
  readonly mid: MidBlock;
  readonly up: nn.Sequential;
  readonly normOut: nn.GroupNorm;
  readonly convOut: nn.Conv2d;

  constructor(o: AutoencoderNetOptions) {
    super();
    const g = o.generator;
    const dropout = o.dropout ?? 0;
    let c = o.channels * o.channelMult[o.channelMult.length - 1]!;
    this.convIn = this.registerModule('conv_in', new nn.Conv2d(o.zChannels, c, 3, { padding: 1, generator: g }));
    this.mid = this.registerModule('mid', new MidBlock(c, o.attention, dropout, g));
    const up: nn.UnaryModule[] = [];
    for (let level = o.channelMult.length - 1; level >= 0; level--) {
      const out = o.channels * o.channelMult[level]!;
      for (let i = 0; i < o.numResBlocks + 1; i++) {
        up.push(new AEResnetBlock(c, out, dropout, g));
        c = out;
      }
      if (level !== 0) up.push(new Upsample(c, true, g));
    }
    this.up = this.registerModule('up', new nn.Sequential(...up));
    this.normOut = this.registerModule('norm_out', normalization(c));
    this.convOut = this.registerModule('conv_out', new nn.Conv2d(c, o.inChannels, 3, { padding: 1, generator: g }));
  }

  /** @param z (B, c, h, w) @returns (B, Cin, h·f, w·f), unbounded (the loss pulls it to [-1, 1]) */
  forward(z: Tensor): Tensor {
    return torch.tidy(() => {
      const h = this.up.forward(this.mid.forward(this.convIn.forward(z))); // (B, C, h·f, w·f)
      return this.convOut.forward(normAct(this.normOut, h, { silu: true })); // (B, Cin, h·f, w·f)
    });
  }
}
