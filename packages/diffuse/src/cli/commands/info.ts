// `diffuse info CHECKPOINT`: what a checkpoint holds, without loading the weights into a model.
import { statSync, readdirSync } from 'node:fs';
import path from 'node:path';

import * as torch from '@diffuse/torch';

import { CheckpointError, readTrainState, resolveCheckpointDir } from '../../train/checkpoint.js';
import { notADiffusionModel } from '../../pipeline/load.js';
import type { Command } from '../main.js';
import { bucketSizes } from '../../train/config.js';
import { formatBuckets } from '../../data/buckets.js';

export const command: Command = {
  spec: {
    name: 'info',
    summary: 'show a checkpoint: config, step, parameter count, EMA rates',
    usage: 'diffuse info CHECKPOINT [--json]',
    positionals: [{ name: 'CHECKPOINT' }],
    flags: [{ key: 'json', type: 'bool', help: 'print the whole state as JSON' }],
  },
  async run(args) {
    const dir = resolveCheckpointDir(args.positionals[0]!);
    const state = readTrainState(dir);
    const other = args.flags.json ? null : notADiffusionModel(state.config);
    if (other !== null) throw new CheckpointError(`${dir}: ${other}`);
    const model = torch.loadSafetensors(path.join(dir, 'model.safetensors')).tensors;
    const params = Object.values(model).reduce((n, t) => n + t.numel(), 0);
    torch.dispose(model);
    const bytes = readdirSync(dir).reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
    if (args.flags.json) {
      console.log(JSON.stringify({ dir, parameters: params, bytes, ...state }, null, 2));
      return 0;
    }
    const c = state.config;
    const buckets = bucketSizes(c);
    const lines = [
      `checkpoint   ${dir}`,
      `step         ${state.step} (${state.examples} images, ${(state.seconds / 60).toFixed(1)} min of training)`,
      `parameters   ${params.toLocaleString('en-US')} (${(bytes / 1e6).toFixed(1)} MB on disk)`,
      `EMA rates    ${state.emaRates.length ? state.emaRates.join(', ') : 'none'}`,
      `data         ${c.run.data}, ${c.model.imageSize}×${c.model.imageSize}×${c.model.channels}${c.model.numClasses > 0 ? `, ${c.model.numClasses} classes` : ''}${buckets ? `; buckets ${formatBuckets(buckets)} (${c.run.buckets})` : ''}`,
      c.model.backbone === 'dit'
        ? `model        DiT${c.model.frames !== undefined ? ` clip model: ${c.model.frames} frames of ${c.model.imageSize}×${c.model.imageSize}, patch pt=${c.model.temporalPatch ?? 1} ×` : ''} p=${c.model.patchSize}, width ${c.model.hiddenSize}, ${c.model.depth} blocks, ${c.model.numHeads} heads, MLP ×${c.model.mlpRatio}`
        : `model        UNet ${c.model.modelChannels} ch × (${c.model.channelMult.join(',')}), ${c.model.numResBlocks} res blocks, attention at ds ${c.model.attentionDs.join(',') || 'none'}, dropout ${c.model.dropout}`,
      `diffusion    T=${c.diffusion.diffusionSteps} ${c.diffusion.noiseSchedule}, predicts ${c.diffusion.meanType}, variance ${c.diffusion.varType}, loss ${c.diffusion.loss}`,
      `optimizer    AdamW lr ${c.optim.lr}, batch ${c.optim.batchSize}, weight decay ${c.optim.weightDecay}`,
      `created      ${state.createdAt}`,
    ];
    // An adapter run's weights are the adapter's only; the base is named, not copied.
    if (c.lora !== undefined) lines.splice(2, 0, `LoRA         r=${c.lora.rank} α=${c.lora.alpha} on ${c.lora.paths.length} layers (${c.lora.targets.join(',')}) of ${c.lora.base} (weights ${c.lora.baseHash}); the parameters below are the adapter's`);
    if (c.controlnet !== undefined) lines.splice(2, 0, `ControlNet   on ${c.controlnet.control} maps beside ${c.controlnet.base} (weights ${c.controlnet.baseHash}); the parameters below are the ControlNet's`);
    console.log(lines.join('\n'));
    return 0;
  },
};
