// The first-stage autoencoder of latent diffusion (Rombach et al. 2022): encoder → bottleneck
// (KL: a VAE's Gaussian posterior; VQ: a VQ-VAE's codebook) → decoder, with diffusers'
// AutoencoderKL / VQModel names (encode, decode, quantize, scaleFactor) and the training loss.
import * as torch from '@diffuse/torch';
import { nn, type Tensor, type Generator } from '@diffuse/torch';
import { Decoder, downsamplingFactor, Encoder, type AutoencoderNetOptions } from './autoencoder-blocks.js';
import { DiagonalGaussian } from './autoencoder-kl.js';
import { VectorQuantizer, type Quantized } from './autoencoder-vq.js';

export type AutoencoderKind = 'kl' | 'vq';

/** Everything that defines an autoencoder (JSON-able; stored in its checkpoints). */
export interface AutoencoderConfig extends Omit<AutoencoderNetOptions, 'generator' | 'dropout'> {
  kind: AutoencoderKind;
  /** Image side it was built for. */
  imageSize: number;
  dropout: number;
  /** Reconstruction loss: L1 (LDM) or L2. */
  recLoss: 'l1' | 'l2';
  /** KL weight β (per image, relative to the summed reconstruction error; LDM's kl_weight). */
  klWeight: number;
  /** VQ: codebook size K, commitment β, EMA decay (0 = codebook loss), dead-code threshold. */
  codebookSize: number;
  commitmentBeta: number;
  emaDecay: number;
  reviveThreshold: number;
  /** 1/std of the training latents (LDM's scale_factor); 1 until measured after training. */
  scaleFactor: number;
}

/** The parts of the loss, for logging. */
export interface AutoencoderLoss {
  loss: Tensor; // scalar: what is minimised
  rec: Tensor; // scalar: mean |x − x̂| or (x − x̂)²
  kl?: Tensor; // scalar: mean KL per image (nats)
  vq?: Tensor; // scalar: codebook + β·commitment
  xrec: Tensor; // (B, C, H, W)
  perplexity?: number;
  used?: number;
}

/** A config no network can be built from (a user's flag or a damaged checkpoint). */
export class AutoencoderConfigError extends RangeError {
  override name = 'AutoencoderConfigError';
}

/** Checks a config; throws AutoencoderConfigError with one line. */
export function validateAutoencoderConfig(c: AutoencoderConfig): void {
  const f = downsamplingFactor(c.channelMult);
  if (![2, 4, 8].includes(f)) throw new AutoencoderConfigError(`downsampling factor f = ${f} (from ${c.channelMult.length} levels); use 2, 3 or 4 channel multipliers for f = 2, 4 or 8`);
  if (c.imageSize % f !== 0) throw new AutoencoderConfigError(`image size ${c.imageSize} is not divisible by the downsampling factor ${f}`);
  if (c.kind !== 'kl' && c.kind !== 'vq') throw new AutoencoderConfigError(`autoencoder kind must be kl or vq, got ${String(c.kind)}`);
  if (c.kind === 'vq' && c.codebookSize < 2) throw new AutoencoderConfigError(`codebook size must be at least 2, got ${c.codebookSize}`);
}

export class Autoencoder extends nn.Module {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  /** 1×1 convs around the bottleneck (LDM's quant_conv / post_quant_conv). */
  readonly quantConv: nn.Conv2d;
  readonly postQuantConv: nn.Conv2d;
  readonly quantize: VectorQuantizer | null;
  readonly factor: number;

  constructor(readonly config: AutoencoderConfig, generator?: Generator) {
    super();
    validateAutoencoderConfig(config);
    const c = config.zChannels;
    const momentChannels = config.kind === 'kl' ? 2 * c : c;
    const net = { ...config, generator };
    this.encoder = this.registerModule('encoder', new Encoder(net, momentChannels));
    this.decoder = this.registerModule('decoder', new Decoder(net));
    this.quantConv = this.registerModule('quant_conv', new nn.Conv2d(momentChannels, momentChannels, 1, { generator }));
    this.postQuantConv = this.registerModule('post_quant_conv', new nn.Conv2d(c, c, 1, { generator }));
    this.quantize = config.kind === 'vq'
      ? this.registerModule('quantize', new VectorQuantizer({
        numEmbeddings: config.codebookSize, embeddingDim: c, beta: config.commitmentBeta, emaDecay: config.emaDecay, reviveThreshold: config.reviveThreshold, generator,
      }))
      : null;
    this.factor = downsamplingFactor(config.channelMult);
  }

  /** LDM's scale factor (1/std of the training latents), as measured when the checkpoint was saved. */
  get scaleFactor(): number {
    return this.config.scaleFactor;
  }

  /** The latent shape [c, h, w] of one image. */
  latentShape(): [number, number, number] {
    const s = this.config.imageSize / this.factor;
    return [this.config.zChannels, s, s];
  }

  /** KL: the posterior q(z|x). @param x (B, C, H, W) in [−1, 1] */
  encodeKL(x: Tensor): DiagonalGaussian {
    if (this.quantize !== null) throw new AutoencoderConfigError('encodeKL: this is a VQ autoencoder (it has no Gaussian posterior)');
    return new DiagonalGaussian(this.quantConv.forward(this.encoder.forward(x))); // (B, 2c, h, w)
  }

  /** VQ: the pre-quantization latents (B, c, h, w). @param x (B, C, H, W) */
  encodeVQ(x: Tensor): Tensor {
    if (this.quantize === null) throw new AutoencoderConfigError('encodeVQ: this is a KL autoencoder (it has no codebook)');
    return torch.tidy(() => this.quantConv.forward(this.encoder.forward(x)));
  }

  /**
   * The latents a diffusion model learns, unscaled: the posterior mean (KL) or the quantized codes (VQ).
   * @param x (B, C, H, W) in [−1, 1] @returns (B, c, h, w)
   */
  encode(x: Tensor): Tensor {
    return torch.tidy(() => (this.quantize === null ? this.encodeKL(x).mode() : this.quantize.forward(this.encodeVQ(x)).zq));
  }

  /** Latents → images; VQ latents are snapped to the codebook first (LDM's VQ decode). @param z (B, c, h, w) @returns (B, C, H, W) */
  decode(z: Tensor): Tensor {
    return torch.tidy(() => {
      const zq = this.quantize === null ? z : this.quantize.forward(z).zq;
      return this.decoder.forward(this.postQuantConv.forward(zq));
    });
  }

  /** VQ: code indices → images. @param indices (B, h, w) int64 @returns (B, C, H, W) */
  decodeIndices(indices: Tensor): Tensor {
    if (this.quantize === null) throw new AutoencoderConfigError('decodeIndices: this is a KL autoencoder (it has no codebook)');
    return torch.tidy(() => this.decoder.forward(this.postQuantConv.forward(this.quantize!.lookup(indices))));
  }

  /** VQ: the codebook's view of images (indices, loss, usage). @param x (B, C, H, W) */
  quantizeImages(x: Tensor): Quantized {
    return torch.tidy(() => this.quantize!.forward(this.encodeVQ(x)));
  }

  /**
   * The training loss: reconstruction + β·KL (KL) or reconstruction + codebook + β·commitment (VQ).
   * KL is summed per image and divided by the image's element count, so β weighs it against the
   * per-image summed reconstruction error exactly as LDM's kl_weight does.
   * @param x (B, C, H, W) in [−1, 1]
   * @param generator noise for the reparameterised sample (default generator when absent)
   */
  lossOf(x: Tensor, generator?: Generator): AutoencoderLoss {
    const cfg = this.config;
    const [, C, H, W] = x.shape as [number, number, number, number];
    const rec = (xrec: Tensor): Tensor => (cfg.recLoss === 'l1' ? xrec.sub(x).abs().mean() : xrec.sub(x).square().mean());
    if (this.quantize === null) {
      const post = this.encodeKL(x);
      const xrec = this.decoder.forward(this.postQuantConv.forward(post.sample(generator))); // (B, C, H, W)
      const r = rec(xrec);
      const kl = post.kl().mean(); // nats per image
      return { loss: r.add(kl.mul(cfg.klWeight / (C * H * W))), rec: r, kl, xrec };
    }
    const q = this.quantize.forward(this.encodeVQ(x));
    const xrec = this.decoder.forward(this.postQuantConv.forward(q.zq)); // (B, C, H, W)
    const r = rec(xrec);
    return { loss: r.add(q.loss), rec: r, vq: q.loss, xrec, perplexity: q.perplexity, used: q.used };
  }
}
