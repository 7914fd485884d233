// `diffuse noise`: the forward-process figure — each row an image, each column q(x_t | x_0) at
// one of the given timesteps (The Annotated Diffusion Model's figure), with the same ε per row.
import * as torch from '@diffuse/torch';

import { isAsyncDataset } from '../../data/dataset.js';
import { openDataset } from '../../data/open.js';
import { GaussianDiffusion, getNamedBetaSchedule, LossType, ModelMeanType, ModelVarType } from '../../diffusion/index.js';
import { makeGrid } from '../../io/grid.js';
import { writePng } from '../../io/png.js';
import { toUint8NHWC } from '../../pipeline/generate.js';
import { CheckpointError, readTrainState, resolveCheckpointDir } from '../../train/checkpoint.js';
import { betasFor } from '../../train/factory.js';
import { notADiffusionModel, resolveModelPath } from '../../pipeline/load.js';
import { UsageError } from '../args.js';
import { decodeLatents, encodeImages } from '../../pipeline/latent.js';
import type { LatentAutoencoderConfig } from '../../train/config.js';
import { THREADS_FLAG, applyMachineFlags } from '../common-flags.js';
import type { Command } from '../main.js';

export const command: Command = {
  spec: {
    name: 'noise',
    summary: 'draw the forward (noising) process of some images at chosen timesteps',
    usage: 'diffuse noise --data mnist|DIR|FILE.npz --t 0,50,100,150,199 --out FILE.png [--n 8]',
    flags: [
      { key: 'data', type: 'string', help: "images: 'mnist', a folder, or an .npz" },
      { key: 't', type: 'ints', min: 0, help: 'timesteps to show (columns)', defaultText: '0,50,100,150,199' },
      { key: 'out', type: 'string', help: 'output PNG file' },
      { key: 'n', type: 'int', min: 1, max: 64, help: 'images (rows)', defaultText: '8' },
      { key: 'imageSize', type: 'int', min: 8, help: 'image side', defaultText: '28, or the checkpoint’s' },
      { key: 'channels', type: 'int', min: 1, max: 3, help: '1 or 3', defaultText: '1, or the checkpoint’s' },
      { key: 'diffusionSteps', type: 'int', min: 2, help: 'T of the schedule', defaultText: '200' },
      { key: 'noiseSchedule', type: 'string', choices: ['linear', 'cosine', 'quadratic', 'sigmoid'], help: 'β schedule', defaultText: 'linear' },
      { key: 'checkpoint', type: 'string', help: "take the schedule and image size from a checkpoint's config instead" },
      { key: 'seed', type: 'int', min: 0, help: 'random seed', defaultText: '0' },
      THREADS_FLAG,
    ],
  },
  async run(args) {
    const f = args.flags;
    applyMachineFlags(f);
    if (f.data === undefined || f.out === undefined) throw new UsageError("'diffuse noise' needs --data and --out FILE.png");
    const out = f.out as string;
    if (!out.toLowerCase().endsWith('.png')) throw new UsageError(`--out ${out}: the figure is a PNG; give a path ending in .png`);
    let betas: Float64Array;
    let size = (f.imageSize as number | undefined) ?? 28;
    let channels = (f.channels as number | undefined) ?? 1;
    let latent: LatentAutoencoderConfig | undefined;
    if (f.checkpoint !== undefined) {
      const dir = resolveCheckpointDir(resolveModelPath(f.checkpoint as string));
      const cfg = readTrainState(dir).config;
      const other = notADiffusionModel(cfg);
      if (other !== null) throw new CheckpointError(`${dir}: ${other}`);
      betas = betasFor(cfg.diffusion);
      // A latent model's forward process runs on the latents; each column is decoded to show it.
      latent = cfg.autoencoder;
      size = (f.imageSize as number | undefined) ?? (latent ?? cfg.model).imageSize;
      channels = (f.channels as number | undefined) ?? (latent ?? cfg.model).channels;
    } else {
      betas = getNamedBetaSchedule((f.noiseSchedule as string | undefined) ?? 'linear', (f.diffusionSteps as number | undefined) ?? 200);
    }
    const T = betas.length;
    const ts = (f.t as number[] | undefined) ?? [0, 50, 100, 150, 199].filter((t) => t < T);
    const bad = ts.find((t) => t >= T);
    if (bad !== undefined) throw new UsageError(`--t ${bad}: timesteps must be below T = ${T}`);
    const dataset = openDataset(f.data as string, { size, channels });
    const n = Math.min((f.n as number | undefined) ?? 8, dataset.length);
    const samples = await Promise.all(Array.from({ length: n }, (_, i) => (isAsyncDataset(dataset) ? dataset.getAsync(i) : dataset.get(i))));
    const diffusion = new GaussianDiffusion({ betas, modelMeanType: ModelMeanType.EPSILON, modelVarType: ModelVarType.FIXED_SMALL, lossType: LossType.MSE });
    const grid = torch.tidy(() => {
      const pixels = torch.tensor(Float32Array.from(samples.flatMap((s) => Array.from(s.image))), { shape: [n, channels, size, size] }); // (n, C, H, W)
      const x0 = latent !== undefined ? encodeImages(latent, pixels) : pixels; // (n, C, H, W) or latents (n, c, h, w)
      const noise = torch.randn(x0.shape, { generator: new torch.Generator({ seed: (f.seed as number | undefined) ?? 0 }) });
      const cols = ts.map((t) => diffusion.qSample(x0, torch.full([n], t, { dtype: 'int64' }), noise)); // each like x0
      const tiles = torch.stack(cols, 1).reshape([n * ts.length, ...x0.shape.slice(1)]); // row-major: image, then t
      return toUint8NHWC(latent !== undefined ? decodeLatents(latent, tiles) : tiles);
    });
    await writePng(out, makeGrid({ data: grid, n: n * ts.length, height: size, width: size, channels }, { nrow: ts.length }));
    console.log(`forward process at t = ${ts.join(', ')} (T = ${T}) for ${n} images → ${out}`);
    return 0;
  },
};
