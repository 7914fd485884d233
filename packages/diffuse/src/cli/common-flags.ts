// Flags every heavy command shares: threads, precision and device.
import * as torch from '@diffuse/torch';

import { PRECISIONS } from '../models/precision.js';
import { UsageError, type FlagSpec, type FlagValue } from './args.js';

export const THREADS_FLAG: FlagSpec = { key: 'threads', type: 'int', min: 1, max: 1024, help: 'CPU threads for libtorch (default: all cores)', group: 'Machine' };
export const PRECISION_HELP = "compute precision: bf16 = bfloat16 convolutions and activations with float32 weights, norms and loss; auto = bf16 on CPUs with AVX512-BF16/AMX, else fp32";
export const PRECISION_FLAG: FlagSpec = { key: 'precision', type: 'string', choices: PRECISIONS, help: PRECISION_HELP, defaultText: 'auto', group: 'Machine' };
export const DEVICE_FLAG: FlagSpec = { key: 'device', type: 'string', choices: ['cpu', 'cuda'], help: 'where to run', defaultText: 'cpu' };

/** Applies --threads and checks --device; returns the device. */
export function applyMachineFlags(flags: Record<string, FlagValue>): 'cpu' | 'cuda' {
  if (flags.threads !== undefined) torch.setNumThreads(flags.threads as number);
  const device = (flags.device as 'cpu' | 'cuda' | undefined) ?? 'cpu';
  if (device === 'cuda' && !torch.cuda.isAvailable()) {
    throw new UsageError(`--device cuda: this libtorch (${torch.libtorchVersion}) has no CUDA support or sees no GPU; build against a CUDA libtorch with LIBTORCH=... npm install`);
  }
  return device;
}
