// Gradient checkpointing for the UNet's blocks (improved-diffusion's `checkpoint(func, inputs,
// params, flag)`), on the engine's reentrant torch.checkpoint, with the RNG replayed so that a
// block with dropout recomputes the same mask in backward (PyTorch's preserve_rng_state).
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

export interface CheckpointOptions {
  /** Checkpoint at all (otherwise fn simply runs). */
  enabled: boolean;
  /** Replay the default generator's state when recomputing (needed when fn draws random numbers). */
  preserveRng: boolean;
}

/**
 * Runs fn(...inputs) without keeping its activations when checkpointing is enabled and a
 * gradient can flow; backward runs fn again. Parameters fn closes over get their gradients, as
 * with PyTorch's reentrant checkpoint — which needs at least one input that requires grad, so
 * without one fn runs plainly.
 * @param fn a deterministic function of the inputs (and of the RNG when preserveRng).
 * @param inputs its tensor inputs.
 * @param options whether to checkpoint and whether to replay the RNG.
 * @returns fn's output.
 */
export function maybeCheckpoint(fn: (...inputs: Tensor[]) => Tensor, inputs: Tensor[], options: CheckpointOptions): Tensor {
  if (!options.enabled || !torch.isGradEnabled() || !inputs.some((t) => t.requiresGrad)) return fn(...inputs);
  const rngState = options.preserveRng ? generatorState() : null;
  let calls = 0;
  const body = (...ins: Tensor[]): Tensor => {
    const recompute = calls++ > 0;
    const out = recompute && rngState !== null ? withGeneratorState(rngState, () => fn(...ins)) : fn(...ins);
    // These handles are only views for fn; the checkpoint node keeps its own references.
    for (const t of ins) if (t !== out) t.dispose();
    return out;
  };
  const outs = torch.checkpoint(body, ...inputs);
  return outs[0]!;
}

/** The default CPU generator's state as bytes (plain JS memory: freed with the closure). */
function generatorState(): Uint8Array {
  const s = torch.defaultGenerator().getState();
  try {
    return s.data() as Uint8Array;
  } finally {
    s.dispose();
  }
}

/** Runs fn with the default generator set to `state`, then puts the current state back. */
function withGeneratorState<T>(state: Uint8Array, fn: () => T): T {
  const g = torch.defaultGenerator();
  const now = g.getState();
  const saved = torch.tensor(state, { dtype: 'uint8' });
  g.setState(saved);
  try {
    return fn();
  } finally {
    g.setState(now);
    now.dispose();
    saved.dispose();
  }
}
