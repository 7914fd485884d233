// The loop every reverse sampler shares: start from x_T, step t = T−1 … 0, yield each step.
// It owns the memory of the chain: each yielded step lives until the loop resumes (or is
// closed), and the tensors it carries are kept out of the caller's tidy() scopes.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import { timestepBatch } from './extract.js';
import type { ProgressiveStep, SampleLoopOptions, StepOutput } from './types.js';

/** One reverse step from x at timestep batch t. */
export type StepFn = (x: Tensor, t: Tensor) => StepOutput;

/**
 * Runs step for t = T−1 … 0 from x_T, yielding { sample, predXstart, t } after each step. Each
 * step runs with grad off, and its tensors are disposed when the loop resumes or is closed.
 * @param numTimesteps T.
 * @param shape the sample shape (B, C, H, W), used when options.noise is absent.
 * @param options noise (x_T), generator, dtype, device, progress.
 * @param step one reverse step.
 */
export function* reverseLoop(
  numTimesteps: number,
  shape: number[],
  options: SampleLoopOptions,
  step: StepFn,
): Generator<ProgressiveStep, void, undefined> {
  const ownsNoise = options.noise === undefined;
  let img: Tensor = options.noise ?? torch.randn(shape, { generator: options.generator, dtype: options.dtype, device: options.device }).keep();
  const batch = img.shape[0]!;
  let prev: ProgressiveStep | undefined;
  const release = (): void => {
    if (prev !== undefined) {
      prev.sample.dispose();
      prev.predXstart.dispose();
    } else if (ownsNoise) {
      img.dispose();
    }
  };
  try {
    for (let i = numTimesteps - 1; i >= 0; i--) {
      const out = torch.noGrad(() => torch.tidy(() => step(img, timestepBatch(batch, i, img.device))));
      out.sample.keep();
      out.predXstart.keep();
      release();
      prev = { sample: out.sample, predXstart: out.predXstart, t: i };
      img = out.sample;
      options.progress?.(numTimesteps - i, numTimesteps);
      yield prev;
    }
  } finally {
    release();
  }
}

/**
 * Runs a progressive loop to the end and returns the final sample (a tensor the caller owns).
 * @param steps a progressive loop.
 * @returns x_0.
 */
export function finalSample(steps: Iterable<ProgressiveStep>): Tensor {
  let result: Tensor | undefined;
  for (const s of steps) {
    if (s.t === 0) result = s.sample.clone();
  }
  if (result === undefined) throw new Error('the sampling loop ended before t = 0');
  return result;
}
