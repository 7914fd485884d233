// ControlNet (Zhang, Rao & Agrawala 2023, "Adding Conditional Control to Text-to-Image Diffusion
// Models"): a trainable copy of a UNet's encoder half — time/label embedding, input blocks and
// middle block, initialised from the base — fed the noisy image plus a control image through a
// small conv stem, and joined to the frozen base by zero-initialised 1×1 convs at every skip
// connection and at the middle block. At initialisation every join is exactly zero, so the base
// model's output is unchanged to the bit. Children carry the reference implementation's names
// (cldm.py: input_hint_block, zero_convs, middle_block_out) beside the UNet's.
import * as torch from '@diffuse/torch';
import { nn, type Tensor, type Generator } from '@diffuse/torch';

import type { UNetConfig } from './config.js';
import { zeroModule, type TimestepEmbedSequential } from './layers.js';
import { timestepAndLabelEmbedding, UNet, type ControlResiduals } from './unet.js';

export interface ControlNetOptions {
  /** Channels of the control image (1 for edge maps of gray digits). */
  controlChannels: number;
  /** Hidden widths of the control stem's convs (default [16, 32]). */
  stemChannels?: number[];
  generator?: Generator;
}

/** The trainable encoder copy and its zero-initialised joins to a base UNet. */
export class ControlNet extends nn.Module {
  readonly config: UNetConfig;
  readonly controlChannels: number;
  readonly timeEmbed: nn.Sequential;
  readonly labelEmb: nn.Embedding | null;
  readonly inputBlocks: nn.ModuleList<TimestepEmbedSequential>;
  readonly middleBlock: TimestepEmbedSequential;
  /** Control image → model channels at full resolution; its last conv is zero. */
  readonly inputHintBlock: nn.Sequential;
  /** One zero 1×1 conv per input block (skip connection). */
  readonly zeroConvs: nn.ModuleList<nn.Conv2d>;
  readonly middleBlockOut: nn.Conv2d;
  readonly sizeDivisor: number;

  /**
   * Builds a ControlNet for a base UNet and copies the base's encoder weights into it.
   * @param base the (frozen) base model; its weights are copied, not shared.
   * @param o control channels, stem widths, init generator.
   */
  constructor(base: UNet, o: ControlNetOptions) {
    super();
    this.config = base.config;
    this.controlChannels = o.controlChannels;
    this.sizeDivisor = base.sizeDivisor;
    // A full UNet of the same config gives encoder modules of exactly the base's structure; its
    // decoder half is dropped.
    const copy = torch.tidy(() => new UNet({ ...base.config, generator: o.generator }));
    this.timeEmbed = this.registerModule('time_embed', copy.timeEmbed);
    this.labelEmb = copy.labelEmb === null ? null : this.registerModule('label_emb', copy.labelEmb);
    this.inputBlocks = this.registerModule('input_blocks', copy.inputBlocks);
    this.middleBlock = this.registerModule('middle_block', copy.middleBlock);
    torch.dispose([...copy.outputBlocks.parameters(), ...copy.out.parameters()]);
    const own = this.stateDict();
    const from = new Map([...base.stateDict()].filter(([k]) => own.has(k)));
    this.loadStateDict(from);

    const mc = base.config.modelChannels;
    const widths = o.stemChannels ?? [16, 32];
    const stem: nn.UnaryModule[] = [];
    let c = o.controlChannels;
    for (const w of widths) {
      stem.push(new nn.Conv2d(c, w, 3, { padding: 1, generator: o.generator }), new nn.SiLU());
      c = w;
    }
    stem.push(zeroModule(new nn.Conv2d(c, mc, 3, { padding: 1, generator: o.generator })));
    this.inputHintBlock = this.registerModule('input_hint_block', new nn.Sequential(...stem));
    this.zeroConvs = this.registerModule('zero_convs', new nn.ModuleList(base.skipChannels.map((ch) => zeroModule(new nn.Conv2d(ch, ch, 1, { generator: o.generator })))));
    const midCh = base.skipChannels[base.skipChannels.length - 1]!;
    this.middleBlockOut = this.registerModule('middle_block_out', zeroModule(new nn.Conv2d(midCh, midCh, 1, { generator: o.generator })));
  }

  /**
   * The residuals for the base UNet.
   * @param x noisy images (B, C, H, W), as the base gets them.
   * @param t timesteps (B,).
   * @param control the control images (B, controlChannels, H, W) in [−1, 1].
   * @param o y: class labels for class-conditional models; scale: the conditioning scale (default 1).
   * @returns one residual per skip connection and one for the middle block, each × scale.
   */
  forward(x: Tensor, t: Tensor, control: Tensor, o: { y?: Tensor; scale?: number } = {}): ControlResiduals {
    const s = control.shape;
    if (s.length !== 4 || s[0] !== x.size(0) || s[1] !== this.controlChannels || s[2] !== x.size(2) || s[3] !== x.size(3)) {
      throw new RangeError(`ControlNet: the control image must be (${x.size(0)}, ${this.controlChannels}, ${x.size(2)}, ${x.size(3)}), got [${s.join(', ')}]`);
    }
    const scale = o.scale ?? 1;
    const out = torch.tidy(() => {
      const emb = timestepAndLabelEmbedding(this, x, t, o.y); // (B, 4·mc)
      const hint = this.inputHintBlock.forward(control); // (B, mc, H, W)
      let h = x;
      const skips: Tensor[] = [];
      for (const [i, block] of this.inputBlocks.items.entries()) {
        h = block.forward(h, emb); // (B, ch_i, H/ds, W/ds)
        // The control enters once, after the first conv (cldm.py's guided_hint).
        if (i === 0) h = h.add(hint.to(h.dtype));
        const r = this.zeroConvs.at(i).forward(h); // (B, ch_i, H/ds, W/ds)
        skips.push(scale === 1 ? r : r.mul(scale));
      }
      h = this.middleBlock.forward(h, emb); // (B, ch, H/ds, W/ds)
      const m = this.middleBlockOut.forward(h);
      return [...skips, scale === 1 ? m : m.mul(scale)];
    });
    return { skips: out.slice(0, -1), middle: out[out.length - 1]! };
  }
}
