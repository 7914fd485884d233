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
  /** The initial state from standard normal noise z (B, C, H, W) (a fresh tensor; z is not consumed). */
  start(noise: Tensor): Tensor;
  /** Step i = 0..total−1 from state x (not consumed); after the last step the state is x_0. */
  step(i: number, x: Tensor): StepResult;
  /** The factor that takes the state after step i to the VP scale x_t (1 for VP samplers). */
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
