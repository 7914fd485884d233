// Gaussian noise for the samplers. Generators here are CPU generators, which can only fill CPU
// tensors; with one, noise for another device is drawn on the CPU and moved, so a seed gives the
// same samples on every device.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

/**
 * Standard normal noise.
 * @param shape the shape; @param device where it should live (default 'cpu').
 * @param generator optional seeded source (a CPU generator).
 * @returns float32 N(0, I) of that shape on that device.
 */
export function gaussian(shape: number[], device: torch.Device = 'cpu', generator?: torch.Generator): Tensor {
  if (generator === undefined || device === 'cpu') return torch.randn(shape, { device, generator });
  return torch.tidy(() => torch.randn(shape, { generator }).to(device));
}

/**
 * Standard normal noise shaped and placed like x (its dtype too).
 * @param x the reference tensor; @param generator optional seeded source.
 */
export function gaussianLike(x: Tensor, generator?: torch.Generator): Tensor {
  return torch.tidy(() => gaussian(x.shape, x.device, generator).to(x.dtype));
}
