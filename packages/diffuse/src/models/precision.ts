// The precision a model computes in: the user's choice, or on 'auto' the fastest that keeps
// quality (docs/performance.md measured FID unchanged with bfloat16 on the digits model).
import * as torch from '@diffuse/torch';
import type { nn } from '@diffuse/torch';

/** 'bf16': mixed precision (bfloat16 activations and convolutions, float32 masters, norms and loss). */
export type Precision = 'auto' | 'fp32' | 'bf16';

export const PRECISIONS: readonly Precision[] = ['auto', 'fp32', 'bf16'];

/** A precision this machine cannot run (bfloat16 on a CPU without AVX-512). */
export class PrecisionError extends RangeError {
  override name = 'PrecisionError';
}

/**
 * The compute dtype for a precision on a device: 'auto' is bfloat16 on CPUs that compute it
 * natively (AVX512-BF16 / AMX) and float32 elsewhere (including CUDA, where it is untested).
 * 'bf16' is honoured wherever oneDNN has bfloat16 kernels (emulated on AVX-512 without BF16: slower
 * than float32 there, docs/performance.md), and refused below that.
 * @param precision the requested precision (undefined = 'auto', as in checkpoints made before it existed).
 * @param device where the model runs.
 * @throws PrecisionError for 'bf16' on a CPU whose oneDNN has no bfloat16 convolutions (AVX2).
 */
export function computeDtypeFor(precision: Precision | undefined, device: torch.Device = 'cpu'): nn.ComputeDType {
  if (precision === 'fp32') return 'float32';
  if (precision === 'bf16') {
    const cpu = torch.cpuInfo();
    if (device === 'cpu' && !cpu.bf16Kernels) {
      throw new PrecisionError(`precision 'bf16' needs a CPU with AVX-512 (oneDNN has no bfloat16 convolutions on ${cpu.onednnIsa ?? 'this CPU'}); use 'fp32' or 'auto'`);
    }
    return 'bfloat16';
  }
  return device === 'cpu' && torch.cpuHasNativeBf16() ? 'bfloat16' : 'float32';
}
