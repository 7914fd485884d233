// improved-diffusion / guided-diffusion checkpoints as diffuse models: their README's MODEL_FLAGS
// and DIFFUSION_FLAGS (script_util.py's argument names and defaults) become a TrainConfig, and
// their state dict loads into our UNet, whose modules carry their names. One difference: our
// class-conditional UNet has a null-class row for classifier-free guidance, which theirs lacks;
// it is added as zeros (their models were not trained with label dropout, so guidance is not
// meaningful for them; sampling a class is).
import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import type { TorchArray } from '../io/torch-zip.js';
import { attentionDownsampleRates, channelMultForImageSize } from '../models/config.js';
import { defaultConfig, type TrainConfig } from '../train/config.js';

/** The codebases whose checkpoints import. */
export const IMPORT_SOURCES = ['improved-diffusion', 'guided-diffusion'] as const;
export type ImportSource = (typeof IMPORT_SOURCES)[number];

/** A flag or weight that does not describe a model we can build: the user's to fix. */
export class ImportError extends Error {
  override name = 'ImportError';
}

type FlagKind = 'int' | 'bool' | 'str' | 'float';

/** script_util.py's model and diffusion flags: kind, and default per codebase ([improved, guided]). */
const FLAGS: Record<string, [FlagKind, string, string]> = {
  image_size: ['int', '64', '64'],
  num_channels: ['int', '128', '128'],
  num_res_blocks: ['int', '2', '2'],
  num_heads: ['int', '4', '4'],
  num_heads_upsample: ['int', '-1', '-1'],
  num_head_channels: ['int', '-1', '-1'],
  attention_resolutions: ['str', '16,8', '16,8'],
  channel_mult: ['str', '', ''],
  dropout: ['float', '0', '0'],
  class_cond: ['bool', 'False', 'False'],
  use_checkpoint: ['bool', 'False', 'False'],
  use_scale_shift_norm: ['bool', 'True', 'True'],
  resblock_updown: ['bool', 'False', 'False'],
  use_fp16: ['bool', 'False', 'False'],
  use_new_attention_order: ['bool', 'False', 'False'],
  learn_sigma: ['bool', 'False', 'False'],
  sigma_small: ['bool', 'False', 'False'],
  diffusion_steps: ['int', '1000', '1000'],
  noise_schedule: ['str', 'linear', 'linear'],
  timestep_respacing: ['str', '', ''],
  use_kl: ['bool', 'False', 'False'],
  predict_xstart: ['bool', 'False', 'False'],
  rescale_timesteps: ['bool', 'True', 'False'],
  rescale_learned_sigmas: ['bool', 'True', 'False'],
};

/** Flags only guided-diffusion has. */
const GUIDED_ONLY = new Set(['num_head_channels', 'channel_mult', 'resblock_updown', 'use_fp16', 'use_new_attention_order']);

/** improved-diffusion's NUM_CLASSES (ImageNet). */
const NUM_CLASSES = 1000;

/**
 * Parses "--image_size 64 --learn_sigma True …" (argparse style, `--k v` or `--k=v`).
 * @returns every flag with its value or the codebase's default.
 */
export function parseImportFlags(text: string, source: ImportSource): Map<string, string | number | boolean> {
  const given = new Map<string, string>();
  const words = text.trim() === '' ? [] : text.trim().split(/\s+/);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (!w.startsWith('--')) throw new ImportError(`--flags: expected --name value, got '${w}'`);
    const eq = w.indexOf('=');
    const name = (eq < 0 ? w.slice(2) : w.slice(2, eq)).replace(/-/g, '_');
    const value = eq < 0 ? words[++i] : w.slice(eq + 1);
    if (value === undefined) throw new ImportError(`--flags: --${name} has no value`);
    if (!(name in FLAGS)) throw new ImportError(`--flags: --${name} is not one of ${source}'s model or diffusion flags (give MODEL_FLAGS and DIFFUSION_FLAGS only: ${Object.keys(FLAGS).join(', ')})`);
    if (source === 'improved-diffusion' && GUIDED_ONLY.has(name)) throw new ImportError(`--flags: --${name} is a guided-diffusion flag; import with --from guided-diffusion`);
    given.set(name, value);
  }
  const out = new Map<string, string | number | boolean>();
  for (const [name, [kind, improved, guided]] of Object.entries(FLAGS)) {
    const raw = given.get(name) ?? (source === 'improved-diffusion' ? improved : guided);
    if (kind === 'bool') {
      if (!/^(true|false|1|0|yes|no|t|f|y|n)$/i.test(raw)) throw new ImportError(`--flags: --${name} takes True or False, got '${raw}'`);
      out.set(name, /^(true|1|yes|t|y)$/i.test(raw));
    } else if (kind === 'int' || kind === 'float') {
      const v = Number(raw);
      if (!Number.isFinite(v) || (kind === 'int' && !Number.isInteger(v))) throw new ImportError(`--flags: --${name} takes ${kind === 'int' ? 'an integer' : 'a number'}, got '${raw}'`);
      out.set(name, v);
    } else out.set(name, raw);
  }
  return out;
}

/**
 * The TrainConfig of a checkpoint trained with these flags (script_util.create_model_and_diffusion).
 * @param flags MODEL_FLAGS and DIFFUSION_FLAGS as one string.
 * @param source which codebase's defaults apply.
 * @param file the checkpoint's path (recorded as the run's data).
 */
export function configFromFlags(flags: string, source: ImportSource, file: string): TrainConfig {
  const f = parseImportFlags(flags, source);
  const int = (k: string): number => f.get(k) as number;
  const bool = (k: string): boolean => f.get(k) as boolean;
  const str = (k: string): string => f.get(k) as string;
  const imageSize = int('image_size');
  const multText = str('channel_mult');
  let channelMult: number[];
  try {
    channelMult = multText === '' ? channelMultForImageSize(imageSize) : multText.split(',').map((s) => Number(s));
  } catch {
    throw new ImportError(`--flags: ${source} has no channel multipliers for image size ${imageSize}${source === 'guided-diffusion' ? '; give --channel_mult' : ''}`);
  }
  if (channelMult.some((m) => !(m > 0))) throw new ImportError(`--flags: --channel_mult ${multText} is not a list of positive numbers`);
  let attentionDs: number[];
  try {
    attentionDs = attentionDownsampleRates(str('attention_resolutions'), imageSize);
  } catch (e) {
    throw new ImportError(`--flags: ${(e as Error).message}`);
  }
  const headsUp = int('num_heads_upsample');
  if (headsUp !== -1 && headsUp !== int('num_heads')) throw new ImportError(`--flags: --num_heads_upsample ${headsUp} differs from --num_heads; diffuse's UNet uses one head count`);
  const noiseSchedule = str('noise_schedule');
  if (noiseSchedule !== 'linear' && noiseSchedule !== 'cosine') throw new ImportError(`--flags: --noise_schedule ${noiseSchedule}: ${source} has linear and cosine`);
  const learnSigma = bool('learn_sigma');
  const base = defaultConfig();
  return {
    ...base,
    model: {
      ...base.model,
      imageSize,
      channels: 3,
      modelChannels: int('num_channels'),
      numResBlocks: int('num_res_blocks'),
      channelMult,
      attentionDs,
      numHeads: int('num_heads'),
      numHeadChannels: int('num_head_channels'),
      dropout: f.get('dropout') as number,
      useScaleShiftNorm: bool('use_scale_shift_norm'),
      resblockUpdown: bool('resblock_updown'),
      useCheckpoint: false,
      numClasses: bool('class_cond') ? NUM_CLASSES : 0,
      useNewAttentionOrder: bool('use_new_attention_order'),
    },
    diffusion: {
      ...base.diffusion,
      diffusionSteps: int('diffusion_steps'),
      noiseSchedule,
      meanType: bool('predict_xstart') ? 'start_x' : 'epsilon',
      varType: learnSigma ? 'learned_range' : bool('sigma_small') ? 'fixed_small' : 'fixed_large',
      loss: bool('use_kl') ? 'rescaled_kl' : bool('rescale_learned_sigmas') ? 'rescaled_mse' : 'mse',
      rescaleTimesteps: bool('rescale_timesteps'),
      zeroTerminalSnr: false,
      minSnrGamma: 0,
    },
    run: { ...base.run, data: `${source}:${file}`, classCond: bool('class_cond') },
  };
}

/**
 * Their state dict as ours: float32 tensors under the same names, the null-class row added.
 * @param state the checkpoint's tensors.
 * @param expected our model's state-dict shapes (model.stateDict()), for the checks.
 * @returns name → tensor, ready for loadStateDict.
 * @throws ImportError naming the first missing, extra or misshapen parameter.
 */
export function mapStateDict(state: Map<string, TorchArray>, expected: ReadonlyMap<string, Tensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  const missing = [...expected.keys()].filter((k) => !state.has(k));
  if (missing.length > 0) throw new ImportError(`the checkpoint lacks ${missing.length} parameter(s) the flags describe, e.g. ${missing[0]}; check --flags against the checkpoint's README`);
  for (const [name, arr] of state) {
    const want = expected.get(name);
    if (want === undefined) throw new ImportError(`the checkpoint has ${name}, which the flags do not describe; check --flags against the checkpoint's README`);
    let t = torch.tensor(arr.data, { shape: arr.shape });
    if (name === 'label_emb.weight' && want.size(0) === arr.shape[0]! + 1) {
      t = torch.cat([t, torch.zeros([1, arr.shape[1]!])], 0); // the null class: no trained row
    }
    if (t.shape.join() !== want.shape.join()) {
      throw new ImportError(`${name} has shape [${arr.shape.join(', ')}] in the checkpoint, [${want.shape.join(', ')}] for these flags; check --flags against the checkpoint's README`);
    }
    out[name] = t;
  }
  return out;
}
