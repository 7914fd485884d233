// Sinusoidal timestep embeddings (Vaswani et al. 2017, as DDPM and improved-diffusion use them).
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

/**
 * Sinusoidal embeddings of (possibly fractional) timesteps: [cos(t·f_i), sin(t·f_i)] with
 * f_i = max_period^(−i/half), i = 0 … half−1, as improved-diffusion's timestep_embedding.
 * @param t timesteps (B,), any numeric dtype (read as float32).
 * @param dim embedding width; an odd width gets a zero last column.
 * @param maxPeriod the longest period, 10000 as in the Transformer.
 * @returns (B, dim) float32.
 */
export function timestepEmbedding(t: Tensor, dim: number, maxPeriod = 10000): Tensor {
  return torch.tidy(() => {
    const half = Math.floor(dim / 2);
    // Computed in the same order as improved-diffusion so float32 rounding agrees.
    const freqs = torch.arange(0, half, 1, { dtype: 'float32' }).mul(-Math.log(maxPeriod)).div(half).exp(); // (half,)
    const args = t.to('float32').unsqueeze(1).mul(freqs.unsqueeze(0)); // (B, half)
    const emb = torch.cat([args.cos(), args.sin()], -1); // (B, 2·half)
    if (dim % 2 === 0) return emb;
    return torch.cat([emb, torch.zeros([emb.size(0), 1])], -1); // (B, dim)
  });
}
