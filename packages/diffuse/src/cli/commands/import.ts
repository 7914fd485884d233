// `diffuse import --from improved-diffusion MODEL.pt --flags "…" --out M`: a PyTorch checkpoint of
// improved-diffusion or guided-diffusion (read with a restricted unpickler: tensors and containers
// only) as a diffuse checkpoint folder that `diffuse sample` and the other commands take.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import * as torch from '@diffuse/torch';

import { configFromFlags, IMPORT_SOURCES, mapStateDict, type ImportSource } from '../../import/improved-diffusion.js';
import { writeFolderAtomic } from '../../io/atomic.js';
import { readTorchStateDict } from '../../io/torch-zip.js';
import { CHECKPOINT_FORMAT, type TrainState } from '../../train/checkpoint.js';
import { createUNet } from '../../train/factory.js';
import { UsageError } from '../args.js';
import type { Command } from '../main.js';

export const command: Command = {
  spec: {
    name: 'import',
    summary: 'turn an improved-diffusion / guided-diffusion PyTorch checkpoint into a diffuse checkpoint',
    usage: 'diffuse import --from improved-diffusion|guided-diffusion MODEL.pt --flags "MODEL_FLAGS DIFFUSION_FLAGS" --out M',
    positionals: [{ name: 'MODEL.pt' }],
    flags: [
      { key: 'from', type: 'string', choices: IMPORT_SOURCES, help: 'the codebase that trained it (its flag defaults differ)' },
      { key: 'flags', type: 'string', help: "the model's MODEL_FLAGS and DIFFUSION_FLAGS from its README, e.g. \"--image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True --diffusion_steps 4000 --noise_schedule cosine\"" },
      { key: 'out', type: 'string', help: 'the checkpoint folder to write (sample it with diffuse sample --checkpoint M)' },
    ],
  },
  async run(args) {
    const f = args.flags;
    if (f.from === undefined || f.out === undefined || f.flags === undefined) {
      throw new UsageError("'diffuse import' needs --from improved-diffusion|guided-diffusion, --flags \"…\" and --out M");
    }
    const file = args.positionals[0]!;
    const out = f.out as string;
    if (existsSync(out) && readdirSync(out).length > 0) throw new UsageError(`--out ${out} exists and is not empty; choose another folder`);
    const source = f.from as ImportSource;
    const config = configFromFlags(f.flags as string, source, path.basename(file));
    const state = readTorchStateDict(new Uint8Array(readFileSync(file)), file);
    const model = createUNet(config);
    const weights = mapStateDict(state, model.stateDict()); // names and shapes checked against the model the flags describe
    torch.dispose([...model.stateDict().values()]);
    const trainState: TrainState = {
      format: CHECKPOINT_FORMAT, step: 0, config, examples: 0, emaRates: [], seconds: 0, createdAt: new Date().toISOString(),
    };
    await writeFolderAtomic(out, async (tmp) => {
      torch.saveSafetensors(path.join(tmp, 'model.safetensors'), weights);
      writeFileSync(path.join(tmp, 'state.json'), JSON.stringify(trainState, null, 1));
    });
    const params = Object.values(weights).reduce((n, t) => n + t.numel(), 0);
    torch.dispose(weights);
    const m = config.model;
    console.log(`imported ${file} (${source}, ${params.toLocaleString('en-US')} parameters): ${m.imageSize}×${m.imageSize} RGB, ${m.modelChannels} ch × (${m.channelMult.join(',')}), ${config.diffusion.noiseSchedule} T=${config.diffusion.diffusionSteps}, predicts ${config.diffusion.meanType}, variance ${config.diffusion.varType}${m.numClasses > 0 ? `, ${m.numClasses} classes` : ''}`);
    console.log(`wrote ${out}; sample it: diffuse sample --checkpoint ${out} --out ${out}/samples${m.numClasses > 0 ? ' --class 0' : ''}`);
    return 0;
  },
};
