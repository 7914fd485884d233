// `diffuse controlnet train`: a ControlNet (Zhang et al. 2023) beside a frozen trained model, on
// control maps diffuse computes from the training images (Canny edges, scribbles, low-res). The
// loop is `diffuse train`'s; only the ControlNet trains and only it is written:
// OUT/controlnet.safetensors. Sample with `diffuse sample --controlnet OUT --control-image …`.
import path from 'node:path';

import * as torch from '@diffuse/torch';

import { loadFrozenBase, reloadFrozenBase } from '../../adapters/base.js';
import { controlKwargs, controlledModelFn, controlNetPreparer, exportControlNet, attachedControlNet } from '../../adapters/controlnet.js';
import { CONTROL_KINDS, controlChannels, type ControlKind } from '../../control/maps.js';
import { validateConfig, type TrainConfig } from '../../train/config.js';
import { adapterRunSettings, ADAPTER_TRAIN_FLAGS, resumeAdapterRun } from '../adapter-run.js';
import { UsageError } from '../args.js';
import { applyMachineFlags, DEVICE_FLAG, THREADS_FLAG } from '../common-flags.js';
import type { Command } from '../main.js';
import { runTraining, SIGNAL_EXIT } from '../run-training.js';
import { emaOption } from './sample.js';
import { requireUNet } from '../../train/factory.js';

export const command: Command = {
  spec: {
    name: 'controlnet',
    summary: 'train a ControlNet beside a trained model (edges, scribbles or low-res images → images)',
    usage: 'diffuse controlnet train --checkpoint BASE --control canny|scribble|lowres --data mnist|DIR|FILE.npz --out DIR [--steps N | --minutes M]',
    config: true,
    positionals: [{ name: 'train' }],
    flags: [
      { key: 'checkpoint', type: 'string', help: "the base: a training output folder, a checkpoint directory, or a shipped model name (e.g. 'digits-cpu')", group: 'ControlNet' },
      { key: 'ema', type: 'string', help: "the base's EMA rate, or 'none' for its raw weights", defaultText: 'its first EMA rate' },
      { key: 'control', type: 'string', choices: CONTROL_KINDS, help: 'the control map made from each training image: Canny edges (100/200), scribbles (edges dilated 3×3), or a 4× downsampled copy', defaultText: 'canny' },
      { key: 'out', type: 'string', help: 'output folder (controlnet.safetensors, checkpoints/, log.jsonl, loss.png, report.html)', group: 'Run' },
      { key: 'resume', type: 'bool', help: 'continue the run in --out from its latest checkpoint (bit-exact)' },
      ...ADAPTER_TRAIN_FLAGS,
      THREADS_FLAG,
      DEVICE_FLAG,
    ],
  },
  async run(args) {
    const f = args.flags;
    if (args.positionals[0] !== 'train') throw new UsageError(`unknown action '${args.positionals[0]}' for 'diffuse controlnet' (actions: train)`);
    const device = applyMachineFlags(f);
    const out = f.out as string | undefined;
    if (out === undefined) throw new UsageError("'diffuse controlnet train' needs --out DIR");
    let config: TrainConfig;
    let resume;
    let pipe;
    if (f.resume) {
      ({ resume, config } = resumeAdapterRun(out, f, 'ControlNet run'));
      if (config.controlnet === undefined) throw new UsageError(`${out} does not hold a ControlNet run; continue it with the command that made it`);
      pipe = reloadFrozenBase(config.controlnet);
    } else {
      if (f.checkpoint === undefined) throw new UsageError("'diffuse controlnet train' needs --checkpoint BASE (a trained model, e.g. 'digits-cpu')");
      const base = loadFrozenBase(f.checkpoint as string, emaOption(f.ema));
      pipe = base.pipe;
      const control = (f.control as ControlKind | undefined) ?? 'canny';
      const { optim, run } = adapterRunSettings(pipe.config, f);
      config = {
        model: structuredClone(pipe.config.model),
        diffusion: structuredClone(pipe.config.diffusion),
        optim,
        run,
        controlnet: { base: base.base, baseHash: base.baseHash, baseEma: base.baseEma, control, controlChannels: controlChannels(control, pipe.config.model.channels) },
      };
      try {
        validateConfig(config);
      } catch (e) {
        if (e instanceof RangeError) throw new UsageError(e.message);
        throw e;
      }
    }
    const cfg = config.controlnet!;
    const baseWeights = pipe.model.stateDict();
    const total = [...baseWeights.values()].reduce((n, t) => n + t.numel(), 0);
    console.log(`ControlNet on ${cfg.control} maps beside ${cfg.base} (${total.toLocaleString('en-US')} parameters, frozen)`);
    let r;
    try {
      r = await runTraining({
        config, out, resume, device, label: 'controlnet',
        prepareModel: (model) => controlNetPreparer(baseWeights, cfg)(requireUNet(model, 'a ControlNet')),
        modelFn: (model) => {
          const unet = requireUNet(model, 'a ControlNet');
          return controlledModelFn(unet, attachedControlNet(unet)!);
        },
        batchKwargs: controlKwargs(cfg),
      });
    } finally {
      torch.dispose(Object.fromEntries(baseWeights));
    }
    const how = r.reason === 'signal' ? `stopped by ${r.signal}` : r.reason === 'minutes' ? 'time budget reached' : 'done';
    console.log(`${how}: step ${r.step}, ${(r.seconds / 60).toFixed(1)} min`);
    if (r.checkpointDir !== null) {
      const x = exportControlNet(r.checkpointDir, out);
      console.log(`ControlNet: ${x.file} (${x.params.toLocaleString('en-US')} parameters; ${(x.bytes / 1024).toFixed(1)} KiB)`);
      console.log(`sample it: diffuse sample --checkpoint ${cfg.base} --controlnet ${out} --control-image EDGES.png --n 16 --out ${path.join(out, 'samples')}`);
    }
    return r.signal !== null ? SIGNAL_EXIT[r.signal] : 0;
  },
};
