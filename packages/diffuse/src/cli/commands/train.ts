// `diffuse train`: train a model on images, with every model, diffusion and training option.
import path from 'node:path';

import * as torch from '@diffuse/torch';

import { CheckpointError, loadCheckpoint, resolveCheckpointDir } from '../../train/checkpoint.js';
import { notADiffusionModel } from '../../pipeline/load.js';
import { PRESETS, resolveConfig, validateConfig, type TrainConfig } from '../../train/config.js';
import { UsageError, type FlagValue } from '../args.js';
import { applyMachineFlags, DEVICE_FLAG, THREADS_FLAG } from '../common-flags.js';
import { isUserError } from '../errors.js';
import type { Command } from '../main.js';
import { BUCKETS_NOT_DATA_PARALLEL, runTraining, SIGNAL_EXIT } from '../run-training.js';
import { CONFIG_FLAGS, flagsToConfig } from '../train-flags.js';
import { DISTRIBUTED_FLAGS, distributedRole, joinProcessGroup, launch, workerFailure } from '../distributed.js';
import { checkResumedAutoencoder, LATENT_FLAGS, withAutoencoder } from '../latent-flags.js';

/** Settings a resumed run may change; the rest must match the checkpoint. */
// microbatch: how a step's rows are split in memory; a resume with another number of workers may
// need another one (the same microbatches keep a data-parallel run bit-equal, docs/distributed.md).
const RESUMABLE = new Set(['microbatch', 'steps', 'minutes', 'logInterval', 'saveInterval', 'previewInterval', 'evalInterval', 'evalSamples', 'keepCheckpoints', 'onNan', 'data']);

function resumeConfig(saved: TrainConfig, flags: Record<string, FlagValue>): TrainConfig {
  const changed = CONFIG_FLAGS.filter((f) => flags[f.key] !== undefined && !RESUMABLE.has(f.key));
  if (changed.length > 0) {
    throw new UsageError(`--resume continues the saved run's model, diffusion and optimizer; drop --${changed.map((f) => f.key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(', --')}`);
  }
  const cfg = structuredClone(saved);
  const over = flagsToConfig(flags).run ?? {};
  Object.assign(cfg.run, over);
  if (flags.microbatch !== undefined) cfg.optim.microbatch = flags.microbatch as number;
  validateConfig(cfg);
  return cfg;
}

export const command: Command = {
  spec: {
    name: 'train',
    summary: 'train a diffusion model on images (mnist, a folder, or an .npz)',
    usage: 'diffuse train --data mnist|DIR|FILE.npz --out DIR [--preset NAME] [--steps N | --minutes M] [flags]',
    config: true,
    flags: [
      { key: 'out', type: 'string', help: 'output folder (checkpoints/, log.jsonl, loss.png, report.html, previews/)', group: 'Run' },
      { key: 'preset', type: 'string', choices: Object.keys(PRESETS), help: 'start from a named configuration' },
      { key: 'resume', type: 'bool', help: "continue the run in --out from its latest checkpoint (bit-exact)" },
      ...CONFIG_FLAGS,
      ...LATENT_FLAGS,
      THREADS_FLAG,
      DEVICE_FLAG,
      ...DISTRIBUTED_FLAGS,
    ],
  },
  async run(args) {
    const f = args.flags;
    const role = distributedRole(f);
    if (role.kind === 'launch' && f.buckets !== undefined) {
      throw new UsageError(BUCKETS_NOT_DATA_PARALLEL);
    }
    if (role.kind === 'launch') return launch(role);
    const device = applyMachineFlags(f);
    const distributed = role.kind === 'worker' ? { rank: role.rank, worldSize: role.worldSize } : undefined;
    const lead = distributed === undefined || distributed.rank === 0;
    const log = (line: string): void => {
      if (lead) console.log(line);
    };
    const out = f.out as string | undefined;
    if (out === undefined) throw new UsageError("'diffuse train' needs --out DIR (where checkpoints and logs go)");
    let config: TrainConfig;
    let resume;
    if (f.resume) {
      if (f.preset !== undefined) throw new UsageError('--resume takes the configuration from the checkpoint; drop --preset');
      resume = loadCheckpoint(resolveCheckpointDir(path.join(out, 'checkpoints')));
      const other = notADiffusionModel(resume.state.config);
      if (other !== null) throw new CheckpointError(`${resume.dir}: ${other} (continue it with the command that made it)`);
      config = resumeConfig(resume.state.config, f);
      checkResumedAutoencoder(config, f);
      log(`resuming ${resume.dir} at step ${resume.state.step}`);
    } else {
      try {
        config = withAutoencoder(resolveConfig(f.preset as string | undefined, flagsToConfig(f)), f);
      } catch (e) {
        if (e instanceof RangeError) throw new UsageError(e.message);
        throw e;
      }
    }
    if (role.kind === 'worker') {
      if (config.optim.batchSize % role.worldSize !== 0) {
        throw new UsageError(`the batch of ${config.optim.batchSize} does not split over ${role.worldSize} workers; pass a --batch-size that ${role.worldSize} divides`);
      }
      joinProcessGroup(role, f);
    }
    let r;
    try {
      r = await runTraining({ config, out, resume, device, distributed });
    } catch (e) {
      if (distributed === undefined || e instanceof UsageError || isUserError(e)) throw e;
      console.error(`diffuse: ${workerFailure(distributed.rank, e)}`);
      return 1;
    }
    if (distributed !== undefined) torch.distributed.destroyProcessGroup();
    if (!lead) return r.signal !== null ? SIGNAL_EXIT[r.signal] : 0;
    const how = r.reason === 'signal' ? `stopped by ${r.signal}` : r.reason === 'minutes' ? 'time budget reached' : 'done';
    console.log(`${how}: step ${r.step}, ${(r.seconds / 60).toFixed(1)} min${r.skipped ? `, ${r.skipped} steps skipped` : ''}`);
    console.log(`checkpoint: ${r.checkpointDir}`);
    console.log(`sample it:  diffuse sample --checkpoint ${out} --n 64 --out ${path.join(out, 'samples')}`);
    console.log(`see it:     ${path.join(out, 'report.html')} (or diffuse board ${out}, live while training)`);
    return r.signal !== null ? SIGNAL_EXIT[r.signal] : 0;
  },
};
