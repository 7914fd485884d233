// improved-diffusion's UNetModel (Nichol & Dhariwal 2021) with guided-diffusion's options
// (resblock_updown, num_head_channels, the new attention order, fractional channel multipliers)
// and a null class for classifier-free guidance. Children carry improved-diffusion's names
// (time_embed, label_emb, input_blocks, middle_block, output_blocks, out), so its state dicts load.
import * as torch from '@diffuse/torch';
import { nn, type Tensor, type Generator } from '@diffuse/torch';
import { AttentionBlock } from './attention.js';
import { resolveAttnProcessors, type AttentionContext, type AttnProcessor, type AttnProcessorSetting } from './attn-processor.js';
import { resolveUNetConfig, type UNetConfig } from './config.js';
import { Downsample, normalization, TimestepEmbedSequential, Upsample, zeroModule, type TimestepBlock } from './layers.js';
import { normAct, type ComputeDtype } from './norm-act.js';
import { ResBlock } from './res-block.js';
import { timestepEmbedding } from './timestep-embedding.js';

/** Constructor options: any subset of UNetConfig (defaults: unetConfigDefaults()), plus an init generator. */
export type UNetOptions = Partial<UNetConfig> & { generator?: Generator };

/** Extra inputs of the forward pass. */
export interface UNetKwargs {
  /** Class labels (B,), int64; the null class (index numClasses) when nullClass is on. */
  y?: Tensor;
  /** Residuals added to the skip connections and the middle block's output (a ControlNet's). */
  control?: ControlResiduals;
  /**
   * Instead of y: weights over the label embedding's rows (B, numClasses [+ 1 null]), float; the
   * class embedding is their weighted sum (e.g. a lerp between two classes, for interpolation).
   */
  yWeights?: Tensor;
}

/** What a ControlNet adds to a UNet: one tensor per skip connection (input block), and one for the middle. */
export interface ControlResiduals {
  /** (B, ch_i, H/ds_i, W/ds_i), one per input block, in order. */
  skips: Tensor[];
  /** (B, ch, H/ds, W/ds) at the bottom of the UNet. */
  middle: Tensor;
}

/** The diffusion UNet: noisy images and timesteps in, ε (and the variance values) out. */
export class UNet extends nn.Module implements nn.HasComputeDType {
  /** The resolved options (JSON; store it with checkpoints and rebuild with createModel). */
  readonly config: UNetConfig;
  /** Channels of the output: outChannels, doubled with learnSigma. */
  readonly outputChannels: number;
  /** The label for "no class" (classifier-free guidance), or null. */
  readonly nullClassIndex: number | null;
  readonly timeEmbed: nn.Sequential;
  readonly labelEmb: nn.Embedding | null;
  readonly inputBlocks: nn.ModuleList<TimestepEmbedSequential>;
  readonly middleBlock: TimestepEmbedSequential;
  readonly outputBlocks: nn.ModuleList<TimestepEmbedSequential>;
  readonly out: nn.Sequential;
  /** Spatial sizes must be divisible by this (2^(levels − 1)). */
  readonly sizeDivisor: number;
  /** Channels of each input block's output (the skip connections), in order; the last is the middle block's. */
  readonly skipChannels: readonly number[];
  private computeDtypeValue: ComputeDtype = 'float32';
  /** The timesteps of the running forward call, read by the attention processors. */
  private readonly attnContext: AttentionContext = { timesteps: null };
  /** Every attention layer by module path, in forward order (built once, after construction). */
  private attnLayersValue: Map<string, AttentionBlock> | null = null;

  /**
   * 'bfloat16': mixed precision. Activations flow in bfloat16 between convolutions that run in
   * bfloat16 (accumulating in float32); norms, attention softmax and the output are computed in
   * float32, and the weights stay float32 masters. Setting it sets the whole tree (blocks and
   * convolutions), as nn.setComputeDtype(model, dtype) does.
   */
  get computeDtype(): ComputeDtype {
    return this.computeDtypeValue;
  }
  set computeDtype(d: ComputeDtype) {
    this.computeDtypeValue = d;
    for (const child of this.children()) nn.setComputeDtype(child, d);
  }

  constructor(options: UNetOptions = {}) {
    super();
    const { generator, ...rest } = options;
    const c = resolveUNetConfig(rest);
    this.config = c;
    const mult = c.channelMult!;
    const mc = c.modelChannels;
    this.outputChannels = c.outChannels! * (c.learnSigma ? 2 : 1);
    this.sizeDivisor = 2 ** (mult.length - 1);
    const embDim = 4 * mc;
    const headsUp = c.numHeadsUpsample === -1 ? c.numHeads : c.numHeadsUpsample;

    this.timeEmbed = this.registerModule(
      'time_embed',
      new nn.Sequential(new nn.Linear(mc, embDim, { generator }), new nn.SiLU(), new nn.Linear(embDim, embDim, { generator })),
    );
    this.nullClassIndex = c.numClasses !== null && c.nullClass ? c.numClasses : null;
    this.labelEmb =
      c.numClasses === null ? null : this.registerModule('label_emb', new nn.Embedding(c.numClasses + (c.nullClass ? 1 : 0), embDim, { generator }));

    const res = (chIn: number, chOut: number, updown: { up?: boolean; down?: boolean } = {}): ResBlock =>
      new ResBlock({
        channels: chIn, embChannels: embDim, dropout: c.dropout, outChannels: chOut,
        useScaleShiftNorm: c.useScaleShiftNorm, useCheckpoint: c.useCheckpoint, generator, ...updown,
      });
    const attn = (ch: number, numHeads: number): AttentionBlock =>
      new AttentionBlock({
        channels: ch, numHeads, numHeadChannels: c.numHeadChannels,
        useNewAttentionOrder: c.useNewAttentionOrder, useCheckpoint: c.useCheckpoint, generator,
      });
    const width = (m: number): number => Math.trunc(m * mc);

    // Encoder: a conv, then per level numResBlocks blocks (+ attention) and a downsample.
    const inputCh = width(mult[0]!);
    let ch = inputCh;
    const input: TimestepEmbedSequential[] = [new TimestepEmbedSequential(new nn.Conv2d(c.inChannels, ch, 3, { padding: 1, generator }))];
    const skipChannels = [ch];
    let ds = 1;
    mult.forEach((m, level) => {
      for (let i = 0; i < c.numResBlocks; i++) {
        const layers: (TimestepBlock | nn.UnaryModule)[] = [res(ch, width(m))];
        ch = width(m);
        if (c.attentionResolutions.includes(ds)) layers.push(attn(ch, c.numHeads));
        input.push(new TimestepEmbedSequential(...layers));
        skipChannels.push(ch);
      }
      if (level !== mult.length - 1) {
        input.push(new TimestepEmbedSequential(c.resblockUpdown ? res(ch, ch, { down: true }) : new Downsample(ch, c.convResample, generator)));
        skipChannels.push(ch);
        ds *= 2;
      }
    });
    this.inputBlocks = this.registerModule('input_blocks', new nn.ModuleList(input));
    this.skipChannels = [...skipChannels];
    this.middleBlock = this.registerModule('middle_block', new TimestepEmbedSequential(res(ch, ch), attn(ch, c.numHeads), res(ch, ch)));

    // Decoder: per level numResBlocks + 1 blocks, each fed a skip connection, then an upsample.
    const output: TimestepEmbedSequential[] = [];
    for (let level = mult.length - 1; level >= 0; level--) {
      for (let i = 0; i <= c.numResBlocks; i++) {
        const layers: (TimestepBlock | nn.UnaryModule)[] = [res(ch + skipChannels.pop()!, width(mult[level]!))];
        ch = width(mult[level]!);
        if (c.attentionResolutions.includes(ds)) layers.push(attn(ch, headsUp));
        if (level > 0 && i === c.numResBlocks) {
          layers.push(c.resblockUpdown ? res(ch, ch, { up: true }) : new Upsample(ch, c.convResample, generator));
          ds /= 2;
        }
        output.push(new TimestepEmbedSequential(...layers));
      }
    }
    this.outputBlocks = this.registerModule('output_blocks', new nn.ModuleList(output));
    this.out = this.registerModule(
      'out',
      new nn.Sequential(normalization(ch), new nn.SiLU(), zeroModule(new nn.Conv2d(inputCh, this.outputChannels, 3, { padding: 1, generator }))),
    );
  }

  private attnLayers(): Map<string, AttentionBlock> {
    if (this.attnLayersValue === null) {
      this.attnLayersValue = new Map();
      for (const [path, m] of this.namedModules()) {
        if (!(m instanceof AttentionBlock)) continue;
        m.path = path;
        m.context = this.attnContext;
        this.attnLayersValue.set(path, m);
      }
    }
    return this.attnLayersValue;
  }

  /**
   * The processor of every attention layer, by module path (e.g. 'output_blocks.3.1'), in
   * forward order (diffusers' attn_processors).
   */
  get attnProcessors(): Map<string, AttnProcessor> {
    return new Map([...this.attnLayers()].map(([path, block]) => [path, block.processor]));
  }

  /**
   * Sets attention processors (diffusers' set_attn_processor): one processor for every layer, a
   * map (object or Map) from layer path to processor — layers it does not name keep theirs — or a
   * function (path, current) → processor.
   * @throws UnknownAttnLayerError when a map names a path that is no attention layer (nothing is set).
   */
  setAttnProcessor(setting: AttnProcessorSetting): void {
    const layers = this.attnLayers();
    const next = resolveAttnProcessors(this.attnProcessors, setting);
    for (const [path, p] of next) layers.get(path)!.processor = p;
  }

  /**
   * The model's prediction for noisy images at timesteps t.
   * @param x noisy images (B, inChannels, H, W); H and W divisible by sizeDivisor.
   * @param t timesteps (B,) (or one, for the whole batch), integer or float (rescaled) values.
   * @param kwargs `{ y }` class labels (B,) int64 — or `{ yWeights }` (B, K) — required exactly when numClasses is set.
   * @returns (B, outputChannels, H, W).
   */
  forward(x: Tensor, t: Tensor, kwargs: UNetKwargs = {}): Tensor {
    this.checkInput(x);
    const b = x.size(0);
    const { y, yWeights, control } = kwargs;
    if (y !== undefined && yWeights !== undefined) throw new Error('UNet: give y or yWeights, not both');
    if ((y !== undefined || yWeights !== undefined) !== (this.labelEmb !== null)) {
      throw new Error(this.labelEmb === null ? 'UNet: y given to an unconditional model' : 'UNet: class-conditional model needs y (the null class is numClasses)');
    }
    if (control !== undefined && control.skips.length !== this.inputBlocks.length) {
      throw new RangeError(`UNet: control has ${control.skips.length} skip residuals, the model ${this.inputBlocks.length}`);
    }
    this.attnLayers(); // the layers learn their paths and the shared context
    return torch.tidy(() => {
      const steps = t.numel() === 1 && b !== 1 ? t.reshape([1]).expand([b]) : t; // (B,)
      if (steps.ndim !== 1 || steps.size(0) !== b) throw new RangeError(`UNet: t must have shape [${b}], got [${t.shape.join(', ')}]`);
      this.attnContext.timesteps = steps;
      try {
        return this.run(x, steps, kwargs);
      } finally {
        this.attnContext.timesteps = null;
      }
    });
  }

  /** The forward pass proper (inside forward's scope). */
  private run(x: Tensor, steps: Tensor, { y, yWeights, control }: UNetKwargs): Tensor {
    const emb = timestepAndLabelEmbedding(this, x, steps, y, yWeights); // (B, 4·mc)
    const skips: Tensor[] = [];
    const low = this.computeDtype !== 'float32';
    let hCur = low ? nn.layoutCast(x, this.computeDtype, true) : x; // (B, C, H, W), channels-last when low
    for (const [i, block] of this.inputBlocks.items.entries()) {
      hCur = block.forward(hCur, emb); // (B, ch, H/ds, W/ds)
      // A ControlNet changes what the decoder sees, not the encoder's own flow (Zhang et al. 2023).
      skips.push(control === undefined ? hCur : hCur.add(castLike(control.skips[i]!, hCur)));
    }
    hCur = this.middleBlock.forward(hCur, emb);
    if (control !== undefined) hCur = hCur.add(castLike(control.middle, hCur));
    for (const block of this.outputBlocks) {
      const skip = skips.pop()!;
      const joined = torch.cat([hCur, skip], 1); // (B, ch + skip ch, H/ds, W/ds)
      hCur.dispose();
      skip.dispose();
      hCur = block.forward(joined, emb);
      joined.dispose();
    }
    const [outNorm, , outConv] = this.out.layers as [nn.GroupNorm, nn.UnaryModule, nn.UnaryModule]; // SiLU fused
    const out = outConv.forward(normAct(outNorm, hCur, { silu: true, computeDtype: this.computeDtype })); // (B, outputChannels, H, W)
    return low ? nn.layoutCast(out, x.dtype, false) : out;
  }

  /** @internal the checks of forward's x, shared with ControlNet. */
  checkInput(x: Tensor): void {
    const s = x.shape;
    if (s.length !== 4) throw new RangeError(`UNet: x must be (B, C, H, W), got [${s.join(', ')}]`);
    if (s[1] !== this.config.inChannels) throw new RangeError(`UNet: x has ${s[1]} channels, the model takes ${this.config.inChannels}`);
    if (s[2]! % this.sizeDivisor !== 0 || s[3]! % this.sizeDivisor !== 0) {
      throw new RangeError(`UNet: image size ${s[2]}×${s[3]} is not divisible by ${this.sizeDivisor} (${this.config.channelMult!.length} levels)`);
    }
  }
}

/**
 * The timestep embedding plus the class embedding (B, 4·mc) of a UNet (or a ControlNet's copy of
 * its time_embed and label_emb).
 * @param m the embedding modules.
 * @param x the batch (B, …), for its size.
 * @param t timesteps (B,) or one for all.
 * @param y class labels (B,) when m has a label embedding.
 * @param yWeights instead of y: weights over the label embedding's rows (B, rows).
 */
export function timestepAndLabelEmbedding(
  m: { timeEmbed: nn.Sequential; labelEmb: nn.Embedding | null; config: UNetConfig },
  x: Tensor,
  t: Tensor,
  y: Tensor | undefined,
  yWeights?: Tensor,
): Tensor {
  const b = x.size(0);
  return torch.tidy(() => {
    const steps = t.numel() === 1 && b !== 1 ? t.reshape([1]).expand([b]) : t; // (B,)
    if (steps.ndim !== 1 || steps.size(0) !== b) throw new RangeError(`UNet: t must have shape [${b}], got [${t.shape.join(', ')}]`);
    const dtype = (m.timeEmbed.layers[0] as nn.Linear).weight.dtype;
    let emb = m.timeEmbed.forward(timestepEmbedding(steps, m.config.modelChannels).to(dtype)); // (B, 4·mc)
    if (m.labelEmb !== null && yWeights !== undefined) {
      const rows = m.labelEmb.numEmbeddings;
      if (yWeights.ndim !== 2 || yWeights.size(0) !== b || yWeights.size(1) !== rows) {
        throw new RangeError(`UNet: yWeights must have shape [${b}, ${rows}], got [${yWeights.shape.join(', ')}]`);
      }
      emb = emb.add(yWeights.to(m.labelEmb.weight.dtype).matmul(m.labelEmb.weight)); // (B, 4·mc)
    } else if (m.labelEmb !== null) {
      if (y!.ndim !== 1 || y!.size(0) !== b) throw new RangeError(`UNet: y must have shape [${b}], got [${y!.shape.join(', ')}]`);
      emb = emb.add(m.labelEmb.forward(y!.dtype === 'int64' ? y! : y!.to('int64'))); // (B, 4·mc)
    }
    return emb;
  });
}

/** r in h's dtype (a float32 residual added to bfloat16 activations, or the reverse). */
function castLike(r: Tensor, h: Tensor): Tensor {
  return r.dtype === h.dtype ? r : r.to(h.dtype);
}
