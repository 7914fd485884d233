// What `diffuse finetune` (LoRA) and `diffuse controlnet train` share: the training flags an
// adapter run takes (the model and diffusion are the base's), its defaults, and --resume.
import path from 'node:path';

import { loadCheckpoint, resolveCheckpointDir, type CheckpointContents } from '../train/checkpoint.js';
import type { TrainConfig } from '../train/config.js';
import { UsageError, type FlagSpec, type FlagValue } from './args.js';
import { CONFIG_FLAGS } from './train-flags.js';

const TRAIN_KEYS = ['data', 'lr', 'weightDecay', 'warmupSteps', 'batchSize', 'emaRates', 'gradClip', 'steps', 'minutes', 'logInterval', 'saveInterval', 'previewInterval', 'evalInterval', 'evalSamples', 'keepCheckpoints', 'seed', 'onNan', 'precision'];
/** The training flags of an adapter run, as `diffuse train` spells them. */
export const ADAPTER_TRAIN_FLAGS: FlagSpec[] = TRAIN_KEYS.map((k) => CONFIG_FLAGS.find((c) => c.key === k)!);

/** What a resumed adapter run may change. */
const RESUMABLE = new Set(['steps', 'minutes', 'logInterval', 'saveInterval', 'previewInterval', 'evalInterval', 'evalSamples', 'keepCheckpoints', 'onNan', 'threads', 'device', 'out', 'resume']);

/**
 * An adapter run's optimizer and run settings: defaults for a short run on a trained model
 * (lr 1e-3, no warmup, EMA 0.999, 1,000 steps, the base's batch size and clip), then the flags.
 */
export function adapterRunSettings(base: TrainConfig, f: Record<string, FlagValue>): Pick<TrainConfig, 'optim' | 'run'> {
  const get = <T>(k: string, d: T): T => (f[k] === undefined ? d : (f[k] as T));
  return {
    optim: {
      lr: get('lr', 1e-3),
      weightDecay: get('weightDecay', 0),
      warmupSteps: get('warmupSteps', 0),
      lrAnnealSteps: 0,
      batchSize: get('batchSize', base.optim.batchSize),
      microbatch: 0,
      emaRates: get('emaRates', [0.999]),
      emaWarmup: true,
      gradClip: get('gradClip', base.optim.gradClip > 0 ? base.optim.gradClip : 1),
      classDropout: base.optim.classDropout,
      scheduleSampler: 'uniform',
    },
    run: {
      data: get('data', 'mnist'),
      randomFlip: false,
      classCond: base.run.classCond,
      steps: get('steps', 1000),
      minutes: get('minutes', 0),
      logInterval: get('logInterval', 50),
      saveInterval: get('saveInterval', 500),
      previewInterval: get('previewInterval', 0),
      evalInterval: get('evalInterval', 0),
      evalSamples: get('evalSamples', 1000),
      keepCheckpoints: get('keepCheckpoints', 2),
      seed: get('seed', 0),
      onNan: get('onNan', 'stop'),
      precision: get('precision', 'auto'),
    },
  };
}

/**
 * Loads the run in `out` to resume it: only run-length and logging flags may change.
 * @param out the run's output folder.
 * @param f the flags given.
 * @param what 'fine-tune' or 'ControlNet run', for messages.
 * @returns the checkpoint and the config to go on with.
 * @throws UsageError for any other flag.
 */
export function resumeAdapterRun(out: string, f: Record<string, FlagValue>, what: string): { resume: CheckpointContents; config: TrainConfig } {
  const changed = Object.keys(f).filter((k) => !RESUMABLE.has(k));
  if (changed.length > 0) throw new UsageError(`--resume continues the saved ${what} (base, adapter, data, optimizer); drop --${changed.map((k) => k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(', --')}`);
  const resume = loadCheckpoint(resolveCheckpointDir(path.join(out, 'checkpoints')));
  const config = structuredClone(resume.state.config);
  Object.assign(config.run, Object.fromEntries(Object.entries(f).filter(([k]) => k in config.run)));
  console.log(`resuming ${resume.dir} at step ${resume.state.step}`);
  return { resume, config };
}
