// Gradient checkpointing for the UNet's blocks (improved-diffusion's `checkpoint(func, inputs,
// params, flag)`): the engine's nn.checkpointCall, which replays the RNG on recomputation so a
// block with dropout draws the same mask in backward (PyTorch's preserve_rng_state).
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
 * with PyTorch's reentrant checkpoint.
 * @param fn a deterministic function of the inputs (and of the RNG when preserveRng).
 * @param inputs its tensor inputs.
 * @param options whether to checkpoint and whether to replay the RNG.
 * @returns fn's output.
 */
export function maybeCheckpoint(fn: (...inputs: Tensor[]) => Tensor, inputs: Tensor[], options: CheckpointOptions): Tensor {
  if (!options.enabled) return fn(...inputs);
  return torch.nn.checkpointCall(fn, inputs, [], { preserveRngState: options.preserveRng });
}
