// What the editing commands share: the sampling flags as sampler options for a batch of inputs.
import * as torch from '@diffuse/torch';

import { guidanceFor, labelsFor } from '../pipeline/generate.js';
import type { Pipeline } from '../pipeline/load.js';
import type { SampleOptions } from '../samplers/index.js';
import { UsageError, type FlagSpec, type FlagValue } from './args.js';
import { applyMachineFlags, DEVICE_FLAG, PRECISION_FLAG, THREADS_FLAG } from './common-flags.js';
import type { Progress } from './progress.js';
import { samplerChoice, SAMPLING_FLAGS } from './commands/sample.js';

/** --checkpoint and --ema (the first two sampling flags). */
export const MODEL_FLAGS: FlagSpec[] = SAMPLING_FLAGS.slice(0, 2);

/** --out and the machine flags, last in every editing command. */
export const OUT_AND_MACHINE_FLAGS: FlagSpec[] = [
  { key: 'out', type: 'string', help: 'output folder', group: 'Output' },
  THREADS_FLAG,
  PRECISION_FLAG,
  DEVICE_FLAG,
];

/**
 * The start of every editing command: the machine flags applied, and the required flags checked.
 * @param command its name; @param required the flags it needs, with how to write each in the message.
 * @returns the device.
 * @throws UsageError naming the first missing flag.
 */
export function startEditCommand(f: Record<string, FlagValue>, command: string, required: Record<string, string>): 'cpu' | 'cuda' {
  const device = applyMachineFlags(f);
  if (f.checkpoint === undefined) throw new UsageError(`'diffuse ${command}' needs --checkpoint (a training output folder, or 'digits-cpu')`);
  for (const [key, usage] of Object.entries(required)) if (f[key] === undefined) throw new UsageError(`'diffuse ${command}' needs ${usage}`);
  return device;
}

/**
 * The sampler options of an editing command for a batch of n images: the sampler flags, --seed,
 * --guidance, and --class cycled over the batch (class-conditional models).
 * @param progress shown while the sampler runs.
 */
export function editSampleOptions(pipe: Pipeline, f: Record<string, FlagValue>, n: number, progress?: Progress): SampleOptions {
  const choice = samplerChoice(f);
  const y = labelsFor(pipe, 0, n, f.class as number[] | undefined)?.keep();
  const t0 = Date.now();
  return {
    ...choice,
    sampler: choice.sampler ?? 'ddim',
    generator: new torch.Generator({ seed: (f.seed as number | undefined) ?? 0 }),
    device: pipe.device,
    modelKwargs: y ? { y } : {},
    guidance: guidanceFor(pipe, f.guidance as number | undefined),
    progress: progress ? (done, total) => progress.update(done / total, (Date.now() - t0) / 1000, `${done}/${total} steps`) : undefined,
  };
}
