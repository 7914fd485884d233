// `diffuse finetune`: LoRA fine-tuning of a trained model on new images. The training loop is
// `diffuse train`'s (log, previews, checkpoints, EMA, bit-exact --resume, SIGINT); only the
// adapter trains, and only the adapter is written: OUT/lora.safetensors.
import path from 'node:path';

import * as torch from '@diffuse/torch';

import { reloadFrozenBase } from '../../adapters/base.js';
import { exportLora, finetuneConfig, loadLoraBase, loraPreparer } from '../../adapters/finetune.js';
import { LORA_TARGET_GROUPS } from '../../adapters/targets.js';
import type { TrainConfig } from '../../train/config.js';
import { UsageError, type FlagSpec } from '../args.js';
import { applyMachineFlags, DEVICE_FLAG, THREADS_FLAG } from '../common-flags.js';
import type { Command } from '../main.js';
import { runTraining, SIGNAL_EXIT } from '../run-training.js';
import { adapterRunSettings, ADAPTER_TRAIN_FLAGS, resumeAdapterRun } from '../adapter-run.js';
import { emaOption } from './sample.js';
import { requireUNet } from '../../train/factory.js';

const LORA_FLAGS: FlagSpec[] = [
  { key: 'checkpoint', type: 'string', help: "the base: a training output folder, a checkpoint directory, or a shipped model name (e.g. 'digits-cpu')", group: 'LoRA' },
  { key: 'ema', type: 'string', help: "the base's EMA rate to start from, or 'none' for its raw weights", defaultText: 'its first EMA rate' },
  { key: 'loraRank', type: 'int', min: 1, help: 'r, the rank of each low-rank update', defaultText: '4' },
  { key: 'loraAlpha', type: 'float', help: 'α: updates are scaled by α / r', defaultText: 'r' },
  { key: 'loraDropout', type: 'float', min: 0, max: 0.99, help: "dropout on the adapters' input while training", defaultText: '0' },
  {
    key: 'targets',
    type: 'strings',
    help: `layers to adapt: ${Object.entries(LORA_TARGET_GROUPS).map(([k, v]) => `${k} (${v})`).join(', ')}, or module-path patterns ('qkv', 'input_blocks.*.0.in_layers.2')`,
    defaultText: 'attn,res',
  },
  { key: 'out', type: 'string', help: 'output folder (lora.safetensors, checkpoints/, log.jsonl, loss.png, report.html, previews/)', group: 'Run' },
  { key: 'resume', type: 'bool', help: 'continue the fine-tune in --out from its latest checkpoint (bit-exact)' },
];

export const command: Command = {
  spec: {
    name: 'finetune',
    summary: 'LoRA fine-tuning of a trained model on new images (writes only the adapter)',
    usage: 'diffuse finetune --checkpoint BASE --data mnist|DIR|FILE.npz --out DIR [--lora-rank 4] [--targets attn,res] [--steps N | --minutes M]',
    config: true,
    flags: [...LORA_FLAGS, ...ADAPTER_TRAIN_FLAGS, THREADS_FLAG, DEVICE_FLAG],
  },
  async run(args) {
    const f = args.flags;
    const device = applyMachineFlags(f);
    const out = f.out as string | undefined;
    if (out === undefined) throw new UsageError("'diffuse finetune' needs --out DIR (where the adapter, checkpoints and logs go)");
    let config: TrainConfig;
    let resume;
    let base;
    if (f.resume) {
      ({ resume, config } = resumeAdapterRun(out, f, 'fine-tune'));
      if (config.lora === undefined) throw new UsageError(`${out} does not hold a LoRA fine-tune; continue it with the command that made it`);
      base = reloadFrozenBase(config.lora);
    } else {
      if (f.checkpoint === undefined) throw new UsageError("'diffuse finetune' needs --checkpoint BASE (a trained model, e.g. 'digits-cpu')");
      const rank = (f.loraRank as number | undefined) ?? 4;
      const alpha = f.loraAlpha as number | undefined;
      if (alpha !== undefined && !(alpha > 0)) throw new UsageError(`--lora-alpha: must be > 0, got ${alpha}`);
      let loaded;
      try {
        loaded = loadLoraBase(f.checkpoint as string, { rank, alpha, dropout: f.loraDropout as number | undefined, targets: (f.targets as string[] | undefined) ?? ['attn', 'res'], ema: emaOption(f.ema) });
      } catch (e) {
        if (e instanceof RangeError) throw new UsageError(`--targets: ${e.message}`);
        throw e;
      }
      for (const t of loaded.emptyTargets) console.log(`note: --targets ${t} selects no layer of this model (skipped)`);
      const { optim, run } = adapterRunSettings(loaded.pipe.config, f);
      try {
        config = finetuneConfig(loaded.pipe.config, loaded.lora, optim, run);
      } catch (e) {
        if (e instanceof RangeError) throw new UsageError(e.message);
        throw e;
      }
      base = loaded.pipe;
    }
    const lora = config.lora!;
    const baseWeights = base.model.stateDict();
    const total = [...baseWeights.values()].reduce((n, t) => n + t.numel(), 0);
    console.log(`LoRA r=${lora.rank} α=${lora.alpha} on ${lora.paths.length} layers of ${lora.base} (${total.toLocaleString('en-US')} parameters, frozen)`);
    let r;
    try {
      r = await runTraining({ config, out, resume, device, label: 'finetune', prepareModel: (model) => loraPreparer(baseWeights, lora)(requireUNet(model, 'LoRA')) });
    } finally {
      torch.dispose(Object.fromEntries(baseWeights));
    }
    const how = r.reason === 'signal' ? `stopped by ${r.signal}` : r.reason === 'minutes' ? 'time budget reached' : 'done';
    console.log(`${how}: step ${r.step}, ${(r.seconds / 60).toFixed(1)} min`);
    if (r.checkpointDir !== null) {
      const x = exportLora(r.checkpointDir, out);
      console.log(`adapter: ${x.file} (${x.params.toLocaleString('en-US')} parameters = ${((100 * x.params) / total).toFixed(2)} % of the base; ${(x.bytes / 1024).toFixed(1)} KiB)`);
      console.log(`sample it: diffuse sample --checkpoint ${lora.base} --lora ${out} --n 64 --out ${path.join(out, 'samples')}`);
    }
    return r.signal !== null ? SIGNAL_EXIT[r.signal] : 0;
  },
};
