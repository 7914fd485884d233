// The KL bottleneck of a VAE (Kingma & Welling 2014) as LDM's DiagonalGaussianDistribution: the
// encoder's 2c channels are the mean and log-variance of a diagonal Gaussian posterior q(z|x).
import * as torch from '@diffuse/torch';
import type { Tensor, Generator } from '@diffuse/torch';

/** q(z|x) = N(mean, diag(exp(logvar))); its tensors belong to the caller's scope. */
export class DiagonalGaussian {
  readonly mean: Tensor; // (B, c, h, w)
  readonly logvar: Tensor; // (B, c, h, w)
  readonly std: Tensor; // (B, c, h, w)

  /** @param moments (B, 2c, h, w): mean, then log-variance (clamped to [−30, 20] as LDM). */
  constructor(moments: Tensor) {
    const [mean, logvar] = moments.chunk(2, 1) as [Tensor, Tensor]; // (B, c, h, w) each
    this.mean = mean;
    this.logvar = logvar.clamp(-30, 20);
    this.std = this.logvar.mul(0.5).exp();
  }

  /** The reparameterised sample z = μ + σ·ε, ε ~ N(0, I): differentiable in μ and σ. @returns (B, c, h, w) */
  sample(generator?: Generator): Tensor {
    const eps = torch.randn(this.mean.shape, { generator, device: this.mean.device }); // (B, c, h, w)
    return this.mean.add(this.std.mul(eps));
  }

  /** The posterior mode (= mean): the deterministic latent LDM calls mode(). @returns (B, c, h, w) */
  mode(): Tensor {
    return this.mean;
  }

  /**
   * KL(q(z|x) ‖ N(0, I)) per image, in nats: ½·Σ(μ² + σ² − 1 − log σ²) over c·h·w.
   * @returns (B,)
   */
  kl(): Tensor {
    return torch.tidy(() => this.mean.square().add(this.logvar.exp()).sub(1).sub(this.logvar).sum([1, 2, 3]).mul(0.5));
  }
}

/**
 * LDM's scale factor: 1/std of the training latents (all elements, unbiased), so the diffusion
 * model sees latents of unit variance.
 * @param latents (N, c, h, w) unscaled latents of the training set.
 */
export function measureScaleFactor(latents: Tensor): number {
  return 1 / latents.std().item();
}
