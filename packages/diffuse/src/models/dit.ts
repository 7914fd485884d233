// The Diffusion Transformer (Peebles & Xie 2023, "Scalable Diffusion Models with Transformers"),
// as facebookresearch/DiT's models.py builds it: patch tokens, adaLN-Zero blocks conditioned on
// the timestep + class embedding, a final adaLN + linear head, unpatchify. Positions are computed
// from the patches' coordinates on every call (no table), so one model takes any H×W divisible by
// p — and clips (B, C, T, H, W), whose patches get (t, x, y) positions. Children carry DiT's names
// (x_embedder, t_embedder, y_embedder, blocks, final_layer).
import * as torch from '@diffuse/torch';
import { nn, type Tensor, type Generator } from '@diffuse/torch';
import { DEFAULT_ATTN_PROCESSOR, resolveAttnProcessors, type AttentionContext, type AttnProcessor, type AttnProcessorSetting } from './attn-processor.js';
import { maybeCheckpoint } from './checkpoint.js';
import { resolveDiTConfig, type DiTConfig } from './dit-config.js';
import { DiTLinear, PatchEmbed, sincosPositions, unpatchify } from './dit-layers.js';
import { timestepEmbedding } from './timestep-embedding.js';

/** Constructor options: any subset of DiTConfig (defaults: ditConfigDefaults()), plus an init generator. */
export type DiTOptions = Partial<DiTConfig> & { generator?: Generator };

/** Extra inputs of the forward pass (as the UNet's). */
export interface DiTKwargs {
  /** Class labels (B,), int64; the null class (index numClasses) when nullClass is on. */
  y?: Tensor;
  /** Instead of y: weights over the label embedding's rows (B, numClasses [+ 1 null]). */
  yWeights?: Tensor;
}

/** Width of the sinusoidal timestep features before the MLP (DiT's frequency_embedding_size). */
const FREQUENCY_EMBEDDING_SIZE = 256;
/** LayerNorm ε of DiT's blocks. */
const LN_EPS = 1e-6;

/** DiT's modulate: x·(1 + scale) + shift, the shift and scale (B, D) broadcast over the tokens. */
function modulate(x: Tensor, shift: Tensor, scale: Tensor): Tensor {
  return torch.tidy(() => x.mul(scale.unsqueeze(1).add(1)).add(shift.unsqueeze(1))); // (B, N, D)
}

/** LayerNorm without affine parameters over the last dim (adaLN supplies scale and shift). */
function layerNorm(x: Tensor): Tensor {
  return torch.layerNorm(x, [x.size(-1)], null, null, LN_EPS); // (B, N, D)
}

/** Linear layers initialised as DiT's _basic_init: xavier_uniform weight, zero bias. */
function linear(inF: number, outF: number, generator?: Generator): DiTLinear {
  const l = new DiTLinear(inF, outF, { generator });
  nn.init.xavierUniform_(l.weight, 1, generator);
  nn.init.zeros_(l.bias!);
  return l;
}

/** The adaLN-Zero regressor SiLU → Linear(D, k·D), zero-initialised so each block starts as the identity. */
function adaLNModulation(dim: number, k: number, generator?: Generator): nn.Sequential {
  const l = linear(dim, k * dim, generator);
  nn.init.zeros_(l.weight);
  return new nn.Sequential(new nn.SiLU(), l);
}

/** Multi-head self-attention over tokens (timm's Attention, qkv with bias), through an AttnProcessor. */
export class DiTAttention extends nn.Module {
  readonly qkv: DiTLinear;
  readonly proj: DiTLinear;
  /** What computes the attention from the packed projections (default: the fused kernel). */
  processor: AttnProcessor = DEFAULT_ATTN_PROCESSOR;
  /** This layer's module path in its model, handed to the processor. */
  path = '';
  /** The enclosing model's call context (its timesteps). */
  context: AttentionContext | null = null;
  constructor(readonly dim: number, readonly numHeads: number, generator?: Generator) {
    super();
    this.qkv = this.registerModule('qkv', linear(dim, 3 * dim, generator));
    this.proj = this.registerModule('proj', linear(dim, dim, generator));
  }
  /** @param x (B, N, D) @returns (B, N, D). */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      // timm's qkv reshapes to (B, N, 3, H, C): [q of all heads, k of all heads, v of all heads] —
      // the processors' 'new order', channel-first as the fused kernel takes it.
      const qkv = this.qkv.forward(x).transpose(1, 2).contiguous(); // (B, 3D, N)
      const heads = this.processor.process({ path: this.path, qkv, numHeads: this.numHeads, newOrder: true, timesteps: this.context?.timesteps ?? null }); // (B, D, N)
      return this.proj.forward(heads.transpose(1, 2)); // (B, N, D)
    });
  }
}

/** timm's Mlp with GELU (tanh approximation): fc1 → GELU → fc2. */
export class DiTMlp extends nn.Module {
  readonly fc1: DiTLinear;
  readonly fc2: DiTLinear;
  constructor(dim: number, hidden: number, generator?: Generator) {
    super();
    this.fc1 = this.registerModule('fc1', linear(dim, hidden, generator));
    this.fc2 = this.registerModule('fc2', linear(hidden, dim, generator));
  }
  /** @param x (B, N, D) @returns (B, N, D). */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => this.fc2.forward(this.fc1.forward(x).gelu('tanh'))); // (B, N, D)
  }
}

/** A DiT block with adaLN-Zero (the paper's Fig. 3, right). */
export class DiTBlock extends nn.Module {
  readonly attn: DiTAttention;
  readonly mlp: DiTMlp;
  readonly adaLNModulation: nn.Sequential;
  constructor(dim: number, numHeads: number, mlpRatio: number, readonly useCheckpoint: boolean, generator?: Generator) {
    super();
    this.attn = this.registerModule('attn', new DiTAttention(dim, numHeads, generator));
    this.mlp = this.registerModule('mlp', new DiTMlp(dim, Math.trunc(dim * mlpRatio), generator));
    this.adaLNModulation = this.registerModule('adaLN_modulation', adaLNModulation(dim, 6, generator));
  }
  /**
   * @param x tokens (B, N, D); @param c the conditioning (B, D).
   * @returns (B, N, D).
   */
  forward(x: Tensor, c: Tensor): Tensor {
    return maybeCheckpoint((xi, ci) => this.block(xi!, ci!), [x, c], { enabled: this.useCheckpoint, preserveRng: false });
  }
  private block(x: Tensor, c: Tensor): Tensor {
    return torch.tidy(() => {
      // 1. Regress the six modulations from c: shift, scale, gate for attention, then for the MLP.
      const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = this.adaLNModulation.forward(c).chunk(6, 1) as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]; // (B, D) each
      // 2. x + gate·Attn(modulate(LN(x))); the gates start at zero (adaLN-Zero): the block starts as the identity.
      const h = x.add(gateMsa.unsqueeze(1).mul(this.attn.forward(modulate(layerNorm(x), shiftMsa, scaleMsa)))); // (B, N, D)
      // 3. The same around the MLP.
      return h.add(gateMlp.unsqueeze(1).mul(this.mlp.forward(modulate(layerNorm(h), shiftMlp, scaleMlp)))); // (B, N, D)
    });
  }
}

/** DiT's FinalLayer: adaLN (shift, scale) then a zero-initialised linear to each patch's values. */
export class FinalLayer extends nn.Module {
  readonly linear: DiTLinear;
  readonly adaLNModulation: nn.Sequential;
  constructor(dim: number, patchValues: number, generator?: Generator) {
    super();
    this.linear = this.registerModule('linear', linear(dim, patchValues, generator));
    nn.init.zeros_(this.linear.weight);
    this.adaLNModulation = this.registerModule('adaLN_modulation', adaLNModulation(dim, 2, generator));
  }
  /** @param x (B, N, D); @param c (B, D) @returns (B, N, [pt·]p·p·C_out). */
  forward(x: Tensor, c: Tensor): Tensor {
    return torch.tidy(() => {
      const [shift, scale] = this.adaLNModulation.forward(c).chunk(2, 1) as [Tensor, Tensor]; // (B, D) each
      return this.linear.forward(modulate(layerNorm(x), shift, scale));
    });
  }
}

/** DiT's TimestepEmbedder: sinusoidal features (256) → Linear → SiLU → Linear, weights N(0, 0.02). */
class TimestepEmbedder extends nn.Module {
  readonly mlp: nn.Sequential;
  constructor(dim: number, generator?: Generator) {
    super();
    const layers = [new DiTLinear(FREQUENCY_EMBEDDING_SIZE, dim, { generator }), new DiTLinear(dim, dim, { generator })];
    for (const l of layers) {
      nn.init.normal_(l.weight, 0, 0.02, generator);
      nn.init.zeros_(l.bias!);
    }
    this.mlp = this.registerModule('mlp', new nn.Sequential(layers[0]!, new nn.SiLU(), layers[1]!));
  }
}

/** DiT's LabelEmbedder: a table with a row per class (+ the null class), weights N(0, 0.02); the trainer drops labels. */
class LabelEmbedder extends nn.Module {
  readonly embeddingTable: nn.Embedding;
  constructor(rows: number, dim: number, generator?: Generator) {
    super();
    this.embeddingTable = this.registerModule('embedding_table', new nn.Embedding(rows, dim, { generator }));
    nn.init.normal_(this.embeddingTable.weight, 0, 0.02, generator);
  }
}

/** The DiT: noisy images (or clips) and timesteps in, ε (and the variance values) out. */
export class DiT extends nn.Module implements nn.HasComputeDType {
  /** The resolved options (JSON; store it with checkpoints). */
  readonly config: DiTConfig;
  /** Channels of the output: outChannels, doubled with learnSigma. */
  readonly outputChannels: number;
  /** The label for "no class" (classifier-free guidance), or null. */
  readonly nullClassIndex: number | null;
  readonly xEmbedder: PatchEmbed;
  readonly tEmbedderMlp: nn.Sequential;
  readonly labelEmb: nn.Embedding | null;
  readonly blocks: nn.ModuleList<DiTBlock>;
  readonly finalLayer: FinalLayer;
  /** Spatial sizes must be divisible by this (the patch side). */
  readonly sizeDivisor: number;
  private computeDtypeValue: nn.ComputeDType = 'float32';
  private readonly attnContext: AttentionContext = { timesteps: null };
  private attnLayersValue: Map<string, DiTAttention> | null = null;

  /** 'bfloat16': the linear layers run in bfloat16; the residual stream, norms, softmax and output stay float32. */
  get computeDtype(): nn.ComputeDType {
    return this.computeDtypeValue;
  }
  set computeDtype(d: nn.ComputeDType) {
    this.computeDtypeValue = d;
    for (const child of this.children()) nn.setComputeDtype(child, d);
  }

  constructor(options: DiTOptions = {}) {
    super();
    const { generator, ...rest } = options;
    const c = resolveDiTConfig(rest);
    this.config = c;
    const d = c.hiddenSize;
    this.outputChannels = c.outChannels! * (c.learnSigma ? 2 : 1);
    this.sizeDivisor = c.patchSize;
    this.xEmbedder = this.registerModule('x_embedder', new PatchEmbed(c.inChannels, d, c.patchSize, c.temporalPatch, c.clip, generator));
    this.tEmbedderMlp = this.registerModule('t_embedder', new TimestepEmbedder(d, generator)).mlp;
    this.nullClassIndex = c.numClasses !== null && c.nullClass ? c.numClasses : null;
    this.labelEmb = c.numClasses === null ? null : this.registerModule('y_embedder', new LabelEmbedder(c.numClasses + (c.nullClass ? 1 : 0), d, generator)).embeddingTable;
    const blocks: DiTBlock[] = [];
    for (let i = 0; i < c.depth; i++) blocks.push(new DiTBlock(d, c.numHeads, c.mlpRatio, c.useCheckpoint, generator));
    this.blocks = this.registerModule('blocks', new nn.ModuleList(blocks));
    const patchVolume = c.patchSize * c.patchSize * (c.clip ? c.temporalPatch : 1);
    this.finalLayer = this.registerModule('final_layer', new FinalLayer(d, patchVolume * this.outputChannels, generator));
  }

  private attnLayers(): Map<string, DiTAttention> {
    if (this.attnLayersValue === null) {
      this.attnLayersValue = new Map();
      for (const [path, m] of this.namedModules()) {
        if (!(m instanceof DiTAttention)) continue;
        m.path = path;
        m.context = this.attnContext;
        this.attnLayersValue.set(path, m);
      }
    }
    return this.attnLayersValue;
  }

  /** The processor of every attention layer, by module path (e.g. 'blocks.3.attn'), in forward order. */
  get attnProcessors(): Map<string, AttnProcessor> {
    return new Map([...this.attnLayers()].map(([path, layer]) => [path, layer.processor]));
  }

  /** Sets attention processors, as UNet.setAttnProcessor. */
  setAttnProcessor(setting: AttnProcessorSetting): void {
    const layers = this.attnLayers();
    for (const [path, p] of resolveAttnProcessors(this.attnProcessors, setting)) layers.get(path)!.processor = p;
  }

  /**
   * The model's prediction for noisy inputs at timesteps t.
   * @param x images (B, C, H, W), or clips (B, C, T, H, W) for a clip model; H, W divisible by p, T by pt.
   * @param t timesteps (B,) (or one for the whole batch).
   * @param kwargs `{ y }` labels (B,) or `{ yWeights }` (B, K), required exactly when numClasses is set.
   * @returns the same layout as x with outputChannels channels.
   */
  forward(x: Tensor, t: Tensor, kwargs: DiTKwargs = {}): Tensor {
    this.checkInput(x);
    const b = x.size(0);
    const { y, yWeights } = kwargs;
    if (y !== undefined && yWeights !== undefined) throw new Error('DiT: give y or yWeights, not both');
    if ((y !== undefined || yWeights !== undefined) !== (this.labelEmb !== null)) {
      throw new Error(this.labelEmb === null ? 'DiT: y given to an unconditional model' : 'DiT: class-conditional model needs y (the null class is numClasses)');
    }
    this.attnLayers();
    return torch.tidy(() => {
      const steps = t.numel() === 1 && b !== 1 ? t.reshape([1]).expand([b]) : t; // (B,)
      if (steps.ndim !== 1 || steps.size(0) !== b) throw new RangeError(`DiT: t must have shape [${b}], got [${t.shape.join(', ')}]`);
      this.attnContext.timesteps = steps;
      try {
        return this.run(x, steps, y, yWeights);
      } finally {
        this.attnContext.timesteps = null;
      }
    });
  }

  private run(x: Tensor, steps: Tensor, y: Tensor | undefined, yWeights: Tensor | undefined): Tensor {
    const c = this.config;
    const b = x.size(0);
    // 1. Patchify and add the positions of the patches' coordinates (Fig. 4).
    const { tokens, grid } = this.xEmbedder.forward(x); // (B, N, D)
    const n = tokens.size(1);
    const pos = torch.tensor(sincosPositions(c.hiddenSize, grid), { dtype: 'float32' }).reshape([1, n, c.hiddenSize]).to(x.device); // (1, N, D)
    let h = tokens.add(pos); // (B, N, D)
    // 2. The conditioning c = embed(t) + embed(y).
    let cond = this.tEmbedderMlp.forward(timestepEmbedding(steps, FREQUENCY_EMBEDDING_SIZE).to(x.device)); // (B, D)
    if (this.labelEmb !== null && yWeights !== undefined) {
      const rows = this.labelEmb.numEmbeddings;
      if (yWeights.ndim !== 2 || yWeights.size(0) !== b || yWeights.size(1) !== rows) {
        throw new RangeError(`DiT: yWeights must have shape [${b}, ${rows}], got [${yWeights.shape.join(', ')}]`);
      }
      cond = cond.add(yWeights.to('float32').matmul(this.labelEmb.weight)); // (B, D)
    } else if (this.labelEmb !== null) {
      if (y!.ndim !== 1 || y!.size(0) !== b) throw new RangeError(`DiT: y must have shape [${b}], got [${y!.shape.join(', ')}]`);
      cond = cond.add(this.labelEmb.forward(y!.dtype === 'int64' ? y! : y!.to('int64'))); // (B, D)
    }
    // 3. The blocks, then the final adaLN + linear and unpatchify.
    for (const block of this.blocks) h = block.forward(h, cond); // (B, N, D)
    const out = this.finalLayer.forward(h, cond); // (B, N, [pt·]p·p·C_out)
    return unpatchify(out, grid, c.patchSize, c.temporalPatch, this.outputChannels); // (B, C_out, [T,] H, W)
  }

  /** The checks of forward's x: layout, channels, sizes divisible by the patch. */
  checkInput(x: Tensor): void {
    const s = x.shape;
    const c = this.config;
    const rank = c.clip ? 5 : 4;
    if (s.length !== rank) {
      throw new RangeError(c.clip ? `DiT: this clip model takes (B, C, T, H, W), got [${s.join(', ')}]` : `DiT: this image model takes (B, C, H, W), got [${s.join(', ')}]${s.length === 5 ? ' (a clip)' : ''}`);
    }
    if (s[1] !== c.inChannels) throw new RangeError(`DiT: x has ${s[1]} channels, the model takes ${c.inChannels}`);
    const [hh, ww] = [s[rank - 2]!, s[rank - 1]!];
    if (hh % c.patchSize !== 0 || ww % c.patchSize !== 0) throw new RangeError(`DiT: size ${hh}×${ww} is not divisible by the patch size ${c.patchSize}`);
    if (c.clip && s[2]! % c.temporalPatch !== 0) throw new RangeError(`DiT: ${s[2]} frames are not divisible by the temporal patch ${c.temporalPatch}`);
  }
}
