// Drives a SamplerRun: the whole loop (sample) or step by step (progressive, for animations).
// Each step runs in its own tidy scope, so a step's intermediates are gone before the next one.
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';
import type { SamplerRun } from './types.js';

/** One intermediate of a progressive run. */
export interface SamplerStep {
  /** Steps done so far (1..total). */
  step: number;
  total: number;
  /** The current x_t in VP scale (x_0 after the last step) (B, C, H, W). */
  x: Tensor;
  /** The x_0 predicted during this step (B, C, H, W). */
  x0: Tensor;
}

/**
 * Runs all steps without gradients.
 * @param run the prepared run; @param noise the start noise (B, C, H, W) (not consumed).
 * @param progress called with (steps done, total) after each step.
 * @returns the final state, x_0 (B, C, H, W), the only tensor left behind.
 */
export function runToEnd(run: SamplerRun, noise: Tensor, progress?: (step: number, total: number) => void): Tensor {
  return torch.noGrad(() => {
    let x = run.start(noise); // (B, C, H, W)
    try {
      for (let i = 0; i < run.total; i++) {
        const next = torch.tidy(() => {
          const r = run.step(i, x);
          r.x0.dispose();
          return r.x;
        });
        x.dispose();
        x = next;
        progress?.(i + 1, run.total);
      }
    } catch (e) {
      x.dispose();
      throw e;
    } finally {
      run.dispose();
    }
    return x;
  });
}

/**
 * Runs the steps one at a time, yielding each intermediate. The yielded tensors are fresh and
 * belong to the caller (dispose them, or let an enclosing tidy do it); the run's own state is
 * held outside every scope and released when the iteration ends or is abandoned.
 * @param run the prepared run; @param noise the start noise (B, C, H, W) (not consumed).
 * @param progress called with (steps done, total) after each step.
 */
export function* runProgressive(
  run: SamplerRun,
  noise: Tensor,
  progress?: (step: number, total: number) => void,
): Generator<SamplerStep, void, undefined> {
  let x: Tensor = torch.noGrad(() => run.start(noise)).keep(); // (B, C, H, W)
  try {
    for (let i = 0; i < run.total; i++) {
      const r = torch.noGrad(() => torch.tidy(() => run.step(i, x)));
      x.dispose();
      x = r.x.keep();
      progress?.(i + 1, run.total);
      const scale = run.vpScale(i);
      const shown = scale === 1 ? x.detach() : x.mul(scale); // (B, C, H, W), caller-owned
      yield { step: i + 1, total: run.total, x: shown, x0: r.x0 };
    }
  } finally {
    x.dispose();
    run.dispose();
  }
}
