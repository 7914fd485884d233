// `diffuse lora merge`: bakes LoRA adapters into a copy of their base model, written as a
// sampling-only checkpoint (model.safetensors + state.json, as the shipped models), so it samples
// with no --lora and at the base model's speed.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import * as torch from '@diffuse/torch';

import { applyLoras } from '../../adapters/apply.js';
import { loadPipeline } from '../../pipeline/load.js';
import { readTrainState } from '../../train/checkpoint.js';
import { UsageError } from '../args.js';
import { applyMachineFlags, THREADS_FLAG } from '../common-flags.js';
import { LORA_FLAG, parseLoraSpecs } from '../lora-flag.js';
import type { Command } from '../main.js';
import { emaOption } from './sample.js';

export const command: Command = {
  spec: {
    name: 'lora',
    summary: 'LoRA adapters: merge one (or several) into its base model',
    usage: 'diffuse lora merge --checkpoint BASE --lora OUT[:SCALE][,OUT2[:SCALE]…] --out MERGED',
    positionals: [{ name: 'merge' }],
    flags: [
      { key: 'checkpoint', type: 'string', help: 'the base the adapters were fine-tuned from (folder, checkpoint directory, or shipped model name)' },
      { key: 'ema', type: 'string', help: "the base's EMA rate, or 'none'", defaultText: 'its first EMA rate' },
      LORA_FLAG,
      { key: 'out', type: 'string', help: 'the merged model (a new folder; sample it with --checkpoint MERGED)' },
      THREADS_FLAG,
    ],
  },
  async run(args) {
    const f = args.flags;
    applyMachineFlags(f);
    const action = args.positionals[0];
    if (action !== 'merge') throw new UsageError(`unknown action '${action}' for 'diffuse lora' (actions: merge)`);
    if (f.checkpoint === undefined) throw new UsageError("'diffuse lora merge' needs --checkpoint BASE");
    if (f.lora === undefined || (f.lora as string[]).length === 0) throw new UsageError("'diffuse lora merge' needs --lora OUT[:SCALE]");
    if (f.out === undefined) throw new UsageError("'diffuse lora merge' needs --out MERGED (a new folder)");
    const out = f.out as string;
    if (existsSync(out) && readdirSync(out).length > 0) throw new UsageError(`${out} exists and is not empty; choose another --out`);
    const specs = parseLoraSpecs(f.lora as string[]);
    const pipe = loadPipeline(f.checkpoint as string, { ema: emaOption(f.ema), precision: 'fp32' });
    const applied = applyLoras(pipe.model, specs);
    // W ← W + (α/r)·s·BA for each, then the adapters are gone: a plain model with the base's names.
    for (const a of applied) a.lora.mergeAndUnload();
    const state = {
      ...readTrainState(pipe.dir),
      optimizer: undefined,
      scheduleSampler: undefined,
      data: undefined,
      emaRates: [],
      mergedFrom: { base: pipe.dir, baseEma: pipe.emaRate, loras: applied.map((a) => ({ file: path.resolve(a.file), scale: a.lora.scale, step: a.meta.step, baseHash: a.meta.baseHash })) },
    };
    // Written under a temporary name and renamed: never a half-written model.
    const tmp = `${out.replace(/\/+$/, '')}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    try {
      torch.saveSafetensors(path.join(tmp, 'model.safetensors'), Object.fromEntries(pipe.model.stateDict()), { source: `${pipe.dir} + ${applied.length} LoRA merged` });
      writeFileSync(path.join(tmp, 'state.json'), JSON.stringify(state, null, 1) + '\n');
      rmSync(out, { recursive: true, force: true });
      mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
      renameSync(tmp, out);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    } finally {
      torch.dispose(Object.fromEntries(pipe.model.stateDict()));
    }
    console.log(`merged ${applied.map((a) => `${a.file} (scale ${a.lora.scale})`).join(', ')} into ${pipe.dir}`);
    console.log(`model:  ${out} (sample it: diffuse sample --checkpoint ${out} --n 64 --out ${path.join(out, 'samples')})`);
    return 0;
  },
};
