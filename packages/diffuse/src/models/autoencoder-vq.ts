// The VQ bottleneck of VQ-VAE (van den Oord et al. 2017): each latent vector is replaced by its
// nearest codebook entry; the straight-through estimator copies the decoder's gradient to the
// encoder; the codebook learns by its loss term (eq. 3) or, optionally, by exponential moving
// averages (the paper's appendix A.1); codes nobody picks are revived from the current batch.
import * as torch from '@diffuse/torch';
import { nn, type Tensor } from '@diffuse/torch';

export interface VectorQuantizerOptions {
  /** K, the number of codes. */
  numEmbeddings: number;
  /** D, the width of a code (the latent channels). */
  embeddingDim: number;
  /** β, the commitment weight (0.25 in the paper). */
  beta: number;
  /** Update the codebook by EMA (decay γ) instead of its loss term; 0 = off. */
  emaDecay?: number;
  /** Revive codes whose moving-average use per batch falls below this count (0 = never). */
  reviveThreshold?: number;
  generator?: torch.Generator;
}

export interface Quantized {
  /** Straight-through quantized latents: forward e_k, backward identity to z. (B, D, h, w) */
  zq: Tensor;
  /** Nearest-code indices (B, h, w), int64. */
  indices: Tensor;
  /** ‖sg[z] − e‖² + β·‖z − sg[e]‖² (the codebook term is absent with EMA updates); scalar. */
  loss: Tensor;
  /** exp(entropy) of the code histogram of this batch: how many codes are effectively used. */
  perplexity: number;
  /** Distinct codes used in this batch. */
  used: number;
}

const EPS = 1e-5;
/** Decay of the per-code use average that dead-code revival watches. */
const USAGE_DECAY = 0.99;

export class VectorQuantizer extends nn.Module {
  readonly embedding: nn.Embedding; // weight (K, D)
  readonly beta: number;
  readonly emaDecay: number;
  readonly reviveThreshold: number;
  /** EMA of codes picked per batch (revival watches it; persistent so resumes are exact). */
  readonly usage: Tensor; // (K,)
  /** EMA cluster sizes N_k and sums m_k (appendix A.1), present with emaDecay > 0. */
  readonly clusterSize: Tensor | null; // (K,)
  readonly embedAvg: Tensor | null; // (K, D)

  constructor(readonly o: VectorQuantizerOptions) {
    super();
    const K = o.numEmbeddings;
    this.beta = o.beta;
    this.emaDecay = o.emaDecay ?? 0;
    this.reviveThreshold = o.reviveThreshold ?? 0;
    this.embedding = this.registerModule('embedding', new nn.Embedding(K, o.embeddingDim, { generator: o.generator }));
    // taming-transformers' initialisation: U(−1/K, 1/K).
    torch.noGrad(() => this.embedding.weight.uniform_(-1 / K, 1 / K, o.generator));
    this.usage = this.registerBuffer('usage', torch.ones([K]));
    if (this.emaDecay > 0) {
      this.embedding.weight.requiresGrad_(false);
      this.clusterSize = this.registerBuffer('cluster_size', torch.zeros([K]));
      this.embedAvg = this.registerBuffer('embed_avg', torch.noGrad(() => this.embedding.weight.clone()));
    } else {
      this.clusterSize = null;
      this.embedAvg = null;
    }
  }

  /**
   * Nearest codes: argmin_k ‖z − e_k‖² = ‖z‖² + ‖e_k‖² − 2 z·e_k.
   * @param zFlat (N, D) @returns (N,) int64
   */
  nearest(zFlat: Tensor): Tensor {
    return torch.tidy(() => {
      const e = this.embedding.weight; // (K, D)
      const d = zFlat.square().sum(1, true).add(e.square().sum(1).unsqueeze(0)).sub(zFlat.matmul(e.t()).mul(2)); // (N, K)
      return d.argmin(1);
    });
  }

  /** Codes by index. @param indices (B, h, w) int64 @returns (B, D, h, w) */
  lookup(indices: Tensor): Tensor {
    return torch.tidy(() => this.embedding.forward(indices).permute([0, 3, 1, 2]).contiguous());
  }

  /** @param z (B, D, h, w) encoder output */
  forward(z: Tensor): Quantized {
    const [B, D, h, w] = z.shape as [number, number, number, number];
    const K = this.o.numEmbeddings;
    return torch.tidy(() => {
      const zFlat = z.permute([0, 2, 3, 1]).reshape([-1, D]); // (N, D), N = B·h·w
      const indices = torch.noGrad(() => this.nearest(zFlat.detach())); // (N,)
      const e = this.embedding.forward(indices); // (N, D)
      // Eq. 3: ‖sg[z] − e‖² moves the codes, β‖z − sg[e]‖² commits the encoder to them.
      const commitment = zFlat.sub(e.detach()).square().mean();
      const loss = this.emaDecay > 0 ? commitment.mul(this.beta) : e.sub(zFlat.detach()).square().mean().add(commitment.mul(this.beta));
      // Straight-through: the forward value is e, the gradient to z is the identity.
      const zqFlat = zFlat.add(e.sub(zFlat).detach()); // (N, D)
      const counts = torch.noGrad(() => torch.oneHot(indices, K).to('float32').sum(0)); // (K,)
      const p = counts.div(B * h * w);
      const perplexity = p.mul(p.add(1e-10).log()).sum().neg().exp().item();
      const used = counts.gt(0).sum().item();
      if (this.training) torch.noGrad(() => this.updateCodebook(zFlat.detach(), indices, counts));
      const zq = zqFlat.reshape([B, h, w, D]).permute([0, 3, 1, 2]).contiguous(); // (B, D, h, w)
      return { zq, indices: indices.reshape([B, h, w]), loss, perplexity, used };
    });
  }

  /** EMA codebook update (appendix A.1) and dead-code revival; training mode only, no grad. */
  private updateCodebook(zFlat: Tensor, indices: Tensor, counts: Tensor): void {
    const K = this.o.numEmbeddings;
    this.usage.mul_(USAGE_DECAY).add_(counts.mul(1 - USAGE_DECAY));
    if (this.clusterSize !== null && this.embedAvg !== null) {
      const g = this.emaDecay;
      const sums = torch.oneHot(indices, K).to('float32').t().matmul(zFlat); // (K, D)
      this.clusterSize.mul_(g).add_(counts.mul(1 - g)); // N_k ← γN_k + (1 − γ)n_k
      this.embedAvg.mul_(g).add_(sums.mul(1 - g)); // m_k ← γm_k + (1 − γ)Σz
      // Laplace smoothing keeps empty clusters from dividing by zero.
      const n = this.clusterSize.sum();
      const smoothed = this.clusterSize.add(EPS).div(n.add(K * EPS)).mul(n); // (K,)
      this.embedding.weight.copy_(this.embedAvg.div(smoothed.unsqueeze(1))); // e_k = m_k / N_k
    }
    if (this.reviveThreshold > 0) {
      const dead = this.usage.lt(this.reviveThreshold); // (K,)
      const nDead = dead.sum().item();
      if (nDead > 0) {
        // A dead code restarts at a random encoder output of this batch (the default generator,
        // which checkpoints store, so resumes stay exact).
        const pick = torch.randint(0, zFlat.size(0), [K]); // (K,)
        const fresh = zFlat.indexSelect(0, pick); // (K, D)
        const mask = dead.unsqueeze(1); // (K, 1)
        this.embedding.weight.copy_(torch.where(mask, fresh, this.embedding.weight));
        this.usage.copy_(torch.where(dead, 1, this.usage));
        if (this.clusterSize !== null && this.embedAvg !== null) {
          this.clusterSize.copy_(torch.where(dead, 1, this.clusterSize));
          this.embedAvg.copy_(torch.where(mask, fresh, this.embedAvg));
        }
      }
    }
  }
}
