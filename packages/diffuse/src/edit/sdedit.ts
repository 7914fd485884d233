// SDEdit (Meng et al. 2022, "SDEdit: Guided Image Synthesis and Editing with Stochastic
// Differential Equations"), diffusers' img2img: noise the input to the level of a strength
// s ∈ [0, 1] with the forward process, then let any sampler denoise from there. s = 0 returns the
// input; s = 1 starts from (almost) pure noise. The sampler is the library's own (samplers/),
// clamped below the start level: its grid is laid over [σ_min, σ(t_0)].
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { DiscreteSigmas, gaussian, prepareSampler, runToEnd, type DiffusionModelSpec, type SampleOptions } from '../samplers/index.js';
import { noiseToLevel, strengthToSigma } from './levels.js';

/** SDEdit's options: a sampler's (steps count the steps run from the start level) and the strength. */
export interface SdeditOptions extends SampleOptions {
  /** s ∈ [0, 1]: how far into the forward process the input goes (t_0 = s·T). */
  strength: number;
}

/**
 * Edits images by SDEdit.
 * @param spec the model; @param images the inputs x_0 (B, C, H, W) in [−1, 1] (not consumed).
 * @param options the sampler, its settings and the strength; `noise` (B, C, H, W), when given, is
 *   the z of the forward step (else drawn from `generator`).
 * @returns the edited images (B, C, H, W).
 */
export function sdedit(spec: DiffusionModelSpec, images: Tensor, options: SdeditOptions): Tensor {
  const s = options.strength;
  if (!(s >= 0 && s <= 1)) throw new RangeError(`SDEdit: strength must be in [0, 1], got ${s}`);
  if (s === 0) return images.clone();
  const sched = new DiscreteSigmas(spec.alphasCumprod);
  const sigmaMax = Math.min(strengthToSigma(sched.sigmas, s), options.sigmaMax ?? Infinity);
  const run = prepareSampler(spec, { ...options, sigmaMax });
  return torch.noGrad(() => {
    const z = options.noise?.detach() ?? gaussian(images.shape, images.device, options.generator); // (B, C, H, W)
    // 1. x_{t_0} ~ q(x_{t_0} | x_0) at the level the run starts at (≤ σ(t_0): a grid may start below it).
    const xt = noiseToLevel(images, run.sigmaAt(0), z); // (B, C, H, W)
    z.dispose();
    // 2. Solve the reverse process from there with the chosen sampler.
    try {
      return runToEnd(run, xt, options.progress);
    } finally {
      xt.dispose();
    }
  });
}
