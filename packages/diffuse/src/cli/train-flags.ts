// Every TrainConfig field as a kebab-case flag of `diffuse train`, and the mapping back from
// parsed flags to a (partial) config.
import type { DeepPartial, TrainConfig } from '../train/config.js';
import type { FlagSpec, FlagValue } from './args.js';
import { PRECISIONS } from '../models/precision.js';
import { PRECISION_HELP } from './common-flags.js';

type Section = keyof TrainConfig;
interface ConfigFlag extends FlagSpec {
  section: Section;
  /** The config field, where it differs from the flag's key. */
  configKey?: string;
}

const M = 'model';
const D = 'diffusion';
const O = 'optim';
const R = 'run';

export const CONFIG_FLAGS: ConfigFlag[] = [
  { section: R, key: 'data', type: 'string', help: "training images: 'mnist' (the bundled digits), 'moving-digits' (clips of moving digits; --model dit), an image folder, or an .npz file", group: 'Data' },
  { section: M, key: 'frames', type: 'int', min: 1, help: "clips: frames per clip (with --data moving-digits; default 8)" },
  { section: R, key: 'clipDigits', type: 'int', min: 1, max: 4, help: 'moving-digits: digits per clip (1 labels the clip with its class)' },
  { section: M, key: 'imageSize', type: 'int', min: 8, max: 1024, help: 'image side in pixels (images are resized and centre-cropped)' },
  { section: M, key: 'channels', type: 'int', min: 1, max: 3, help: '1 = grayscale, 3 = RGB' },
  { section: R, key: 'buckets', type: 'string', help: "mixed-size folders: batches by aspect ratio, 'auto' (ratios 1:2 to 2:1 at about --image-size² pixels) or HxW,HxW (e.g. 28x28,20x40)" },
  { section: R, key: 'randomFlip', type: 'bool', help: 'random horizontal flips' },
  { section: R, key: 'classCond', type: 'bool', help: 'condition on class labels (from the data)' },
  { section: M, key: 'numClasses', type: 'int', min: 0, help: 'number of classes for --class-cond (0 = infer from the data)' },

  { section: M, key: 'model', configKey: 'backbone', type: 'string', choices: ['unet', 'dit'], help: "the denoising network: 'unet' or 'dit' (a Diffusion Transformer)", group: 'Model' },
  { section: M, key: 'patchSize', type: 'int', min: 1, max: 4, help: 'DiT: patch side p (1, 2 or 4)' },
  { section: M, key: 'hiddenSize', type: 'int', min: 4, help: 'DiT: token width' },
  { section: M, key: 'depth', type: 'int', min: 1, help: 'DiT: number of blocks' },
  { section: M, key: 'mlpRatio', type: 'float', min: 0, help: 'DiT: MLP width as a multiple of the token width' },
  { section: M, key: 'temporalPatch', type: 'int', min: 1, help: 'DiT clips: frames per patch pt (the frames must be divisible by it)' },

  { section: M, key: 'modelChannels', type: 'int', min: 8, help: 'base channel count of the UNet', group: 'Model (improved-diffusion UNet)' },
  { section: M, key: 'numResBlocks', type: 'int', min: 1, help: 'residual blocks per resolution' },
  { section: M, key: 'channelMult', type: 'ints', min: 1, help: 'channel multiplier per level, e.g. 1,2,2' },
  { section: M, key: 'attentionDs', type: 'ints', min: 1, help: 'downsample rates with self-attention, e.g. 2 (empty = none)' },
  { section: M, key: 'numHeads', type: 'int', min: 1, help: 'attention heads' },
  { section: M, key: 'numHeadChannels', type: 'int', min: -1, help: 'channels per head (-1 = use --num-heads)' },
  { section: M, key: 'dropout', type: 'float', min: 0, max: 1, help: 'dropout in residual blocks' },
  { section: M, key: 'useScaleShiftNorm', type: 'bool', help: 'FiLM-style scale-shift conditioning on the timestep' },
  { section: M, key: 'resblockUpdown', type: 'bool', help: 'up/down sample inside residual blocks' },
  { section: M, key: 'useCheckpoint', type: 'bool', help: 'gradient checkpointing (less memory, more compute)' },

  { section: D, key: 'diffusionSteps', type: 'int', min: 2, help: 'T, the number of diffusion steps', group: 'Diffusion' },
  { section: D, key: 'noiseSchedule', type: 'string', choices: ['linear', 'cosine', 'quadratic', 'sigmoid'], help: 'β schedule' },
  { section: D, key: 'meanType', type: 'string', choices: ['epsilon', 'start_x', 'v', 'previous_x'], help: 'what the model predicts' },
  { section: D, key: 'varType', type: 'string', choices: ['fixed_small', 'fixed_large', 'learned', 'learned_range'], help: 'reverse-process variance (learned* doubles the output channels)' },
  { section: D, key: 'loss', type: 'string', choices: ['mse', 'rescaled_mse', 'kl', 'rescaled_kl', 'l1', 'huber'], help: 'training loss (rescaled_mse with learned_range = the hybrid loss)' },
  { section: D, key: 'rescaleTimesteps', type: 'bool', help: 'feed the model t·1000/T' },
  { section: D, key: 'zeroTerminalSnr', type: 'bool', help: 'rescale β to zero terminal SNR (Lin et al. 2023)' },
  { section: D, key: 'minSnrGamma', type: 'float', min: 0, help: 'min-SNR-γ loss weighting (0 = off; 5 is typical)' },

  { section: O, key: 'lr', type: 'float', min: 0, help: 'AdamW learning rate', group: 'Training' },
  { section: O, key: 'weightDecay', type: 'float', min: 0, help: 'AdamW decoupled weight decay' },
  { section: O, key: 'warmupSteps', type: 'int', min: 0, help: 'linear learning-rate warmup steps' },
  { section: O, key: 'lrAnnealSteps', type: 'int', min: 0, help: 'anneal the learning rate linearly to 0 over N steps (0 = constant)' },
  { section: O, key: 'batchSize', type: 'int', min: 1, help: 'images per optimizer step' },
  { section: O, key: 'microbatch', type: 'int', min: 0, help: 'microbatch size for gradient accumulation (0 = whole batch)' },
  { section: O, key: 'emaRates', type: 'floats', min: 0, max: 1, help: 'EMA decay rates, e.g. 0.999,0.9999' },
  { section: O, key: 'emaWarmup', type: 'bool', help: 'EMA warmup: decay min(rate, (1+n)/(10+n))' },
  { section: O, key: 'gradClip', type: 'float', min: 0, help: 'clip the gradient norm (0 = off)' },
  { section: O, key: 'classDropout', type: 'float', min: 0, max: 1, help: 'probability of dropping the label (classifier-free guidance)' },
  { section: O, key: 'scheduleSampler', type: 'string', choices: ['uniform', 'loss-second-moment'], help: 'how timesteps are drawn' },

  { section: R, key: 'steps', type: 'int', min: 0, help: 'optimizer steps to train', group: 'Run' },
  { section: R, key: 'minutes', type: 'float', min: 0, help: 'wall-clock budget in minutes (0 = none); stops at whichever comes first' },
  { section: R, key: 'logInterval', type: 'int', min: 0, help: 'log averaged losses every N steps' },
  { section: R, key: 'saveInterval', type: 'int', min: 0, help: 'checkpoint every N steps (and always at the end)' },
  { section: R, key: 'previewInterval', type: 'int', min: 0, help: 'write a preview sample grid every N steps (0 = off)' },
  { section: R, key: 'evalInterval', type: 'int', min: 0, help: 'FID/KID of the EMA model every N steps and at the end (0 = off)' },
  { section: R, key: 'evalSamples', type: 'int', min: 10, help: 'samples drawn for each evaluation (DDIM, 25 steps)' },
  { section: R, key: 'keepCheckpoints', type: 'int', min: 0, help: 'keep the last K checkpoints (0 = all)' },
  { section: R, key: 'seed', type: 'int', min: 0, help: 'random seed' },
  { section: R, key: 'onNan', type: 'string', choices: ['stop', 'skip'], help: 'on a non-finite loss: stop, or skip the step and count it' },
  { section: R, key: 'precision', type: 'string', choices: PRECISIONS, help: PRECISION_HELP, group: 'Machine' },
];

/** Moves parsed flag values into their config sections. */
export function flagsToConfig(flags: Record<string, FlagValue>): DeepPartial<TrainConfig> {
  const out: Record<string, Record<string, FlagValue>> = {};
  for (const f of CONFIG_FLAGS) {
    const v = flags[f.key];
    if (v === undefined) continue;
    (out[f.section] ??= {})[f.configKey ?? f.key] = v;
  }
  return out as DeepPartial<TrainConfig>;
}
