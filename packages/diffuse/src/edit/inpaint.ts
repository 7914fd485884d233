// Inpainting with an unconditional model (the replacement method of Song et al. 2021, sec. 5 /
// RePaint's known-region step, Lugmayr et al. 2022, eq. 8): after every sampler step the known
// pixels are replaced by the original noised to the level the run has reached, so the model only
// ever fills the hole around a consistent context. RePaint's resampling (sec. 4.2) optionally goes
// back up the chain (x_a ~ q(x_a | x_b)) and redoes each stretch of `jumpLength` steps, so that the
// generated region harmonises with the known one.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { gaussian, gaussianLike, prepareSampler, type DiffusionModelSpec, type SampleOptions } from '../samplers/index.js';
import { noiseToLevel, renoise } from './levels.js';

/** RePaint's resampling schedule. */
export interface RepaintResampling {
  /** j: how many steps each stretch has (RePaint: 10). */
  jumpLength: number;
  /** r: how many times each stretch is run in all (1 = no resampling; RePaint: 10). */
  resamples: number;
}

/** Inpainting options: a sampler's, the mask and optional resampling. */
export interface InpaintOptions extends SampleOptions {
  /** Where to generate: 1 = the hole (generated), 0 = known (kept) — (B or 1, 1 or C, H, W), values in [0, 1]. */
  mask: Tensor;
  /** RePaint's resampling jumps (samplers 'ddpm' and 'ddim' only: multistep histories cannot go back). */
  resample?: RepaintResampling;
}

/**
 * Fills the masked region of images.
 * @param spec the model; @param images x_0 (B, C, H, W) in [−1, 1] (not consumed).
 * @param options the sampler, the mask and resampling; `noise` is the start z when given.
 * @returns (B, C, H, W): the known pixels as given (after a final denoise; within the last level's
 *   noise otherwise), the hole generated.
 */
export function inpaint(spec: DiffusionModelSpec, images: Tensor, options: InpaintOptions): Tensor {
  const { mask } = options;
  if (mask.ndim !== 4 || mask.size(2) !== images.size(2) || mask.size(3) !== images.size(3)) {
    throw new RangeError(`inpaint: the mask has shape [${mask.shape.join(', ')}]; it must be (B or 1, 1 or C, ${images.size(2)}, ${images.size(3)}) like the images`);
  }
  const jumps = options.resample ?? { jumpLength: 1, resamples: 1 };
  if (!(Number.isInteger(jumps.jumpLength) && jumps.jumpLength >= 1 && Number.isInteger(jumps.resamples) && jumps.resamples >= 1)) {
    throw new RangeError(`inpaint: jumpLength and resamples must be positive integers, got ${jumps.jumpLength} and ${jumps.resamples}`);
  }
  if (jumps.resamples > 1 && options.sampler !== 'ddpm' && options.sampler !== 'ddim') {
    throw new RangeError(`inpaint: RePaint resampling needs a single-step sampler (ddpm or ddim), not ${options.sampler}`);
  }
  const run = prepareSampler(spec, options);
  const N = run.total;
  const g = options.generator;
  return torch.noGrad(() => {
    const hole = mask.to(images.dtype); // (B|1, C|1, H, W)
    const known = hole.rsub(1); // (B|1, C|1, H, W)
    /** VP x at level σ with the known region put back: known·q(x_σ | x_0) + hole·x. */
    const putKnown = (xVp: Tensor, sigma: number): Tensor =>
      torch.tidy(() => noiseToLevel(images, sigma, gaussianLike(images, g)).mul(known).add(xVp.mul(hole))); // (B, C, H, W)
    let x = torch.tidy(() => {
      const z = options.noise?.detach() ?? gaussian(images.shape, images.device, g); // (B, C, H, W)
      return run.start(putKnown(z, run.sigmaAt(0))); // the state at σ_0
    });
    const total = N * jumps.resamples;
    let done = 0;
    try {
      for (let b = 0; b < N; b += jumps.jumpLength) {
        const e = Math.min(b + jumps.jumpLength, N);
        for (let r = 0; r < jumps.resamples; r++) {
          for (let i = b; i < e; i++) {
            const next = torch.tidy(() => {
              const step = run.step(i, x);
              step.x0.dispose();
              const scale = run.vpScale(i); // state → VP after step i
              return putKnown(step.x.mul(scale), run.sigmaAt(i + 1)).div(scale); // (B, C, H, W)
            });
            x.dispose();
            x = next;
            options.progress?.(++done, total);
          }
          if (r === jumps.resamples - 1) break;
          // RePaint's jump: back up from σ_e to σ_b along the forward process, then redo the stretch.
          const back = torch.tidy(() => renoise(x, run.sigmaAt(e), run.sigmaAt(b), gaussianLike(x, g))); // (B, C, H, W)
          x.dispose();
          x = back;
        }
      }
    } catch (err) {
      x.dispose();
      throw err;
    } finally {
      run.dispose();
      hole.dispose();
      known.dispose();
    }
    return x;
  });
}
