// The shape every sampler has: a run of `total` steps from noise to x_0, driven by loop.ts.
// (One helper lives here too: the trivial start of the runs whose state is the VP x_t.)
import type * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import type { ModelKwargs } from '../diffusion/enums.js';
import type { ClassifierGuidance } from '../guidance/classifier.js';
import type { DiffusionModelSpec } from './denoiser.js';

/** What a sampler is built from. */
export interface SamplerContext {
  /** The (possibly guided) model. */
  spec: DiffusionModelSpec;
  /** Extra model inputs (e.g. `{ y }`), the same every step. */
  modelKwargs: ModelKwargs;
  /** Source of the fresh noise that stochastic samplers add (default: the global generator). */
  generator?: torch.Generator;
  /** Classifier guidance (DDPM: condition_mean; others: condition_score). */
  classifier?: ClassifierGuidance;
}

/** One step's results, owned by the caller. */
export interface StepResult {
  /** The next state. */
  x: Tensor;
  /** The x_0 prediction made during the step (B, C, H, W). */
  x0: Tensor;
}

/** A prepared sampling run. */
export interface SamplerRun {
  /** The number of steps. */
  readonly total: number;
  /**
   * σ = √((1−ᾱ)/ᾱ) of the state before step i (i = 0..total; 0 after a final denoise to x̂_0).
   * Sampling from scratch starts at sigmaAt(0) from pure noise; the editing tools (src/edit) noise
   * an image to sigmaAt(0), or put the known region back at sigmaAt(i + 1) after step i.
   */
  sigmaAt(i: number): number;
  /**
   * The initial state from the VP x_t at sigmaAt(0) (B, C, H, W) — standard normal noise z when
   * sampling from scratch, where x_T ≈ z (a fresh tensor; the input is not consumed).
   */
  start(noise: Tensor): Tensor;
  /** Step i = 0..total−1 from state x (not consumed); after the last step the state is x_0. */
  step(i: number, x: Tensor): StepResult;
  /** The factor that takes the state after step i to the VP scale x_t (1 for VP samplers; 1 after the last step). */
  vpScale(i: number): number;
  /** Releases what the run holds across steps (multistep history). */
  dispose(): void;
}

/** Everything of a VP-state run (DDPM, DDIM) but its steps: the state starts as z itself. */
export const VP_STATE: Pick<SamplerRun, 'start' | 'vpScale' | 'dispose'> = {
  start: (noise) => noise.clone(),
  vpScale: () => 1,
  dispose: () => {},
};
