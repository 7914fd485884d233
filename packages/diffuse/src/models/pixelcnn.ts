// A gated PixelCNN prior over VQ code indices (van den Oord et al. 2016, "Conditional Image
// Generation with PixelCNN Decoders"): a vertical stack that sees the rows above, a horizontal
// stack that sees the pixels to the left in the same row (so there is no blind spot), gated
// activations tanh(W_f∗x) ⊙ σ(W_g∗x) with an optional class bias (eq. 4), and masked
// convolutions that keep p(x_i | x_<i) autoregressive in raster order (eq. 1).
import * as torch from '@diffuse/torch';
import { nn, type Tensor, type Generator } from '@diffuse/torch';

export interface PixelCNNOptions {
  /** K, the number of code indices (the VQ codebook size). */
  numEmbeddings: number;
  /** Hidden channels D of both stacks. */
  channels: number;
  /** Gated layers (the first uses mask A: the pixel itself is hidden). */
  numLayers: number;
  /** Odd kernel size k of the masked convolutions. */
  kernelSize: number;
  /** Classes for class-conditional priors (0 = unconditional). */
  numClasses: number;
  generator?: Generator;
}

/**
 * A k×k convolution whose weights are multiplied by a fixed 0/1 mask before each use.
 * @param mask (k, k) of 0/1, broadcast over output and input channels.
 */
export class MaskedConv2d extends nn.Conv2d {
  readonly mask: Tensor; // (1, 1, kh, kw)
  constructor(inC: number, outC: number, mask: number[][], generator?: Generator) {
    const kh = mask.length;
    const kw = mask[0]!.length;
    super(inC, outC, [kh, kw], { padding: [(kh - 1) / 2, (kw - 1) / 2], generator });
    this.mask = this.registerBuffer('mask', torch.tensor(Float32Array.from(mask.flat()), { shape: [1, 1, kh, kw] }), false);
  }
  override forward(x: Tensor): Tensor {
    return torch.tidy(() => torch.conv2d(x, this.weight.mul(this.mask), this.bias, this.options));
  }
}

/** Vertical-stack mask: every column of the rows strictly above the centre. */
export function verticalMask(k: number): number[][] {
  const c = (k - 1) / 2;
  return Array.from({ length: k }, (_, r) => Array.from({ length: k }, () => (r < c ? 1 : 0)));
}

/** Horizontal-stack mask (1×k): the columns left of the centre, and the centre itself for mask B. */
export function horizontalMask(k: number, type: 'A' | 'B'): number[][] {
  const c = (k - 1) / 2;
  return [Array.from({ length: k }, (_, j) => (j < c || (type === 'B' && j === c) ? 1 : 0))];
}

/** tanh(a) ⊙ σ(b) for the two halves of the channels (eq. 2). @param x (B, 2D, h, w) @returns (B, D, h, w) */
function gate(x: Tensor): Tensor {
  const [f, g] = x.chunk(2, 1) as [Tensor, Tensor];
  return f.tanh().mul(g.sigmoid());
}

/** One gated layer of both stacks (figure 2 of the paper). */
export class GatedMaskedLayer extends nn.Module {
  readonly vConv: MaskedConv2d;
  readonly vToH: nn.Conv2d;
  readonly hConv: MaskedConv2d;
  readonly hOut: nn.Conv2d;
  readonly classBias: nn.Embedding | null;

  constructor(readonly channels: number, k: number, readonly maskType: 'A' | 'B', numClasses: number, generator?: Generator) {
    super();
    const D = channels;
    this.vConv = this.registerModule('v_conv', new MaskedConv2d(D, 2 * D, verticalMask(k), generator));
    this.vToH = this.registerModule('v_to_h', new nn.Conv2d(2 * D, 2 * D, 1, { generator }));
    this.hConv = this.registerModule('h_conv', new MaskedConv2d(D, 2 * D, horizontalMask(k, maskType), generator));
    this.hOut = this.registerModule('h_out', new nn.Conv2d(D, D, 1, { generator }));
    this.classBias = numClasses > 0 ? this.registerModule('class_bias', new nn.Embedding(numClasses, 2 * D, { generator })) : null;
  }

  /**
   * @param v vertical features (B, D, h, w): position (i, j) depends on rows < i only.
   * @param h horizontal features (B, D, h, w): (i, j) depends on pixels before (i, j) in raster order.
   * @param y class labels (B,) when conditional.
   */
  forward2(v: Tensor, h: Tensor, y?: Tensor): [Tensor, Tensor] {
    return torch.tidy(() => {
      const bias = this.classBias !== null && y !== undefined ? this.classBias.forward(y).unsqueeze(-1).unsqueeze(-1) : null; // (B, 2D, 1, 1)
      const vPre = this.vConv.forward(v); // (B, 2D, h, w): rows strictly above
      const vOut = gate(bias === null ? vPre : vPre.add(bias)); // (B, D, h, w)
      // The vertical stack already excludes row i, so it may feed the horizontal one at (i, j).
      let hPre = this.hConv.forward(h).add(this.vToH.forward(vPre)); // (B, 2D, h, w)
      if (bias !== null) hPre = hPre.add(bias);
      let hOut = this.hOut.forward(gate(hPre)); // (B, D, h, w)
      // The residual would hand the pixel itself forward from the mask-A layer's input.
      if (this.maskType === 'B') hOut = hOut.add(h);
      return [vOut, hOut];
    });
  }

  forward(x: Tensor): Tensor {
    return this.forward2(x, x)[1];
  }
}

export class GatedPixelCNN extends nn.Module {
  readonly embedding: nn.Embedding;
  readonly layers: GatedMaskedLayer[] = [];
  readonly outHidden: nn.Conv2d;
  readonly outLogits: nn.Conv2d;

  constructor(readonly o: PixelCNNOptions) {
    super();
    if (o.kernelSize % 2 !== 1 || o.kernelSize < 3) throw new RangeError(`PixelCNN kernel size must be odd and at least 3, got ${o.kernelSize}`);
    const g = o.generator;
    this.embedding = this.registerModule('embedding', new nn.Embedding(o.numEmbeddings, o.channels, { generator: g }));
    for (let i = 0; i < o.numLayers; i++) {
      this.layers.push(this.registerModule(`layers.${i}`, new GatedMaskedLayer(o.channels, o.kernelSize, i === 0 ? 'A' : 'B', o.numClasses, g)));
    }
    this.outHidden = this.registerModule('out_hidden', new nn.Conv2d(o.channels, 2 * o.channels, 1, { generator: g }));
    this.outLogits = this.registerModule('out_logits', new nn.Conv2d(2 * o.channels, o.numEmbeddings, 1, { generator: g }));
  }

  /**
   * Logits from embedded inputs (differentiable in them: the causality test's entry point).
   * @param x (B, D, h, w) @param y (B,) int64 labels when conditional @returns (B, K, h, w)
   */
  forwardEmbedded(x: Tensor, y?: Tensor): Tensor {
    return torch.tidy(() => {
      let v = x;
      let h = x;
      for (const layer of this.layers) [v, h] = layer.forward2(v, h, y);
      return this.outLogits.forward(this.outHidden.forward(h.relu()).relu());
    });
  }

  /** @param indices (B, h, w) int64 @param y (B,) labels @returns logits (B, K, h, w) */
  forward(indices: Tensor, y?: Tensor): Tensor {
    return torch.tidy(() => this.forwardEmbedded(this.embedding.forward(indices).permute([0, 3, 1, 2]), y));
  }

  /** −log p(indices) per code, averaged (nats): the training loss. @param indices (B, h, w) */
  loss(indices: Tensor, y?: Tensor): Tensor {
    return torch.tidy(() => torch.crossEntropy(this.forward(indices, y), indices));
  }

  /**
   * Ancestral sampling in raster order: one forward pass per position (h·w passes).
   * @param shape [B, h, w] @param y (B,) labels when conditional
   * @param temperature logits are divided by it (1 = the model's distribution)
   * @returns indices (B, h, w) int64
   */
  sample(shape: [number, number, number], o: { y?: Tensor; temperature?: number; generator?: Generator } = {}): Tensor {
    const [B, H, W] = shape;
    const t = o.temperature ?? 1;
    return torch.noGrad(() => {
      let x = torch.zeros([B, H, W], { dtype: 'int64' }).keep();
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < W; j++) {
          const next = torch.tidy(() => {
            const logits = this.forward(x, o.y).select(3, j).select(2, i).div(t); // (B, K)
            const k = torch.multinomial(logits.softmax(-1), 1, false, o.generator).squeeze(1); // (B,)
            const flat = x.clone().reshape([B, H * W]);
            flat.select(1, i * W + j).copy_(k);
            return flat.reshape([B, H, W]).keep();
          });
          x.dispose();
          x = next;
        }
      }
      return x;
    });
  }
}
