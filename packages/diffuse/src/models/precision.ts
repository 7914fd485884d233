// The precision a model computes in: the user's choice, or on 'auto' the fastest that keeps
// quality (docs/performance.md measured FID unchanged with bfloat16 on the digits model).
import * as torch from '@diffuse/torch';
import type { nn } from '@diffuse/torch';

/** 'bf16': mixed precision (bfloat16 activations and convolutions, float32 masters, norms and loss). */
export type Precision = 'auto' | 'fp32' | 'bf16';

export const PRECISIONS: readonly Precision[] = ['auto', 'fp32', 'bf16'];

/**
 * The compute dtype for a precision on a device: 'auto' is bfloat16 on CPUs that compute it
 * natively (AVX512-BF16 / AMX) and float32 elsewhere (including CUDA, where it is untested).
 * @param precision the requested precision (undefined = 'auto', as in checkpoints made before it existed).
 * @param device where the model runs.
 */
export function computeDtypeFor(precision: Precision | undefined, device: torch.Device = 'cpu'): nn.ComputeDType {
  if (precision === 'fp32') return 'float32';
  if (precision === 'bf16') return 'bfloat16';
  return device === 'cpu' && torch.cpuHasNativeBf16() ? 'bfloat16' : 'float32';
}
