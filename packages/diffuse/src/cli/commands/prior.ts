// `diffuse prior train|sample`: the second stage of a VQ-VAE (van den Oord et al. 2017) — a gated
// PixelCNN over the code indices of a frozen VQ autoencoder, trained on the encoded training
// set, sampled autoregressively and decoded to images (a grid and samples.npz for `diffuse fid`).
import { mkdirSync } from 'node:fs';
import path from 'node:path';

import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { BatchLoader, type LoaderPosition } from '../../data/loader.js';
import { F32ArrayDataset } from '../../data/array-dataset.js';
import { openDataset } from '../../data/open.js';
import { makeGrid } from '../../io/grid.js';
import { writeNpz } from '../../io/npz.js';
import { writePng } from '../../io/png.js';
import { GatedPixelCNN } from '../../models/pixelcnn.js';
import { loadAutoencoder } from '../../pipeline/autoencoder.js';
import { toUint8NHWC } from '../../pipeline/generate.js';
import { frozenAutoencoder, latentAutoencoderConfig } from '../../pipeline/latent.js';
import { CheckpointError, listCheckpoints, loadCheckpoint, resolveCheckpointDir, type CheckpointContents } from '../../train/checkpoint.js';
import { isPriorConfig, trainPrior, type PriorTrainConfig } from '../../train/prior-trainer.js';
import type { Autoencoder } from '../../models/autoencoder.js';
import { UsageError, type FlagValue } from '../args.js';
import { firstImages, fmt, runFolderTraining } from '../autoencoder-run.js';
import { THREADS_FLAG } from '../common-flags.js';
import type { Command } from '../main.js';

/** What a resumed prior run may change. */
const RESUMABLE = ['steps', 'minutes', 'logInterval', 'saveInterval', 'previewInterval'];
const SETTINGS = ['data', 'limit', 'classCond', 'channels', 'layers', 'kernelSize', 'lr', 'batchSize', 'seed'];

/** Code indices of images under a VQ autoencoder, as a float dataset (1 channel, h×h) for the batch loader. */
async function indexDataset(ae: Autoencoder, data: string, limit: number): Promise<F32ArrayDataset> {
  const a = ae.config;
  const images = openDataset(data, { size: a.imageSize, channels: a.inChannels, limit: limit > 0 ? limit : undefined });
  const { x, labels } = await firstImages(images, images.length);
  const [, h] = ae.latentShape();
  const idx = torch.noGrad(() => torch.tidy(() => {
    const parts: Tensor[] = [];
    for (let i = 0; i < x.size(0); i += 256) parts.push(ae.quantizeImages(x.narrow(0, i, Math.min(256, x.size(0) - i))).indices.to('float32'));
    return torch.cat(parts, 0).contiguous().keep(); // (N, h, w)
  }));
  x.dispose();
  const ds = new F32ArrayDataset({ images: idx.data() as Float32Array, n: labels.length, channels: 1, size: h, labels: images.numClasses > 0 ? labels : undefined, numClasses: images.numClasses || undefined });
  idx.dispose();
  return ds;
}

/** Decoded samples of a prior: images (n, C, H, W) in [−1, 1] and their labels. */
function samplePrior(net: GatedPixelCNN, ae: Autoencoder, cfg: PriorTrainConfig, o: { n: number; classes?: number[]; temperature: number; seed: number }): { x: Tensor; y: Tensor | undefined } {
  const h = cfg.latentSize;
  const K = cfg.prior.numClasses;
  const pool = o.classes && o.classes.length > 0 ? o.classes : Array.from({ length: K }, (_, i) => i);
  const y = K > 0 ? torch.tensor(BigInt64Array.from({ length: o.n }, (_, i) => BigInt(pool[i % pool.length]!))).keep() : undefined;
  const generator = new torch.Generator({ seed: o.seed });
  const x = torch.noGrad(() => torch.tidy(() => ae.decodeIndices(net.sample([o.n, h, h], { y, temperature: o.temperature, generator })).clamp(-1, 1).keep()));
  return { x, y };
}

async function train(f: Record<string, FlagValue>): Promise<number> {
  const out = f.out as string | undefined;
  if (out === undefined) throw new UsageError("'diffuse prior train' needs --out DIR");
  const root = path.join(out, 'checkpoints');
  let cfg: PriorTrainConfig;
  let resume: CheckpointContents | undefined;
  if (f.resume) {
    const bad = [...SETTINGS, 'autoencoder'].filter((k) => f[k] !== undefined);
    if (bad.length > 0) throw new UsageError(`--resume continues the saved prior run; drop --${bad.map((k) => k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(', --')}`);
    resume = loadCheckpoint(resolveCheckpointDir(root));
    if (!isPriorConfig(resume.state.config)) throw new CheckpointError(`${resume.dir}: not a prior run`);
    cfg = structuredClone(resume.state.config as unknown as PriorTrainConfig);
    for (const k of RESUMABLE) if (f[k] !== undefined) (cfg.run as unknown as Record<string, FlagValue>)[k] = f[k]!;
    console.log(`resuming ${resume.dir} at step ${resume.state.step}`);
  } else {
    if (f.autoencoder === undefined) throw new UsageError("'diffuse prior train' needs --autoencoder AE (a VQ autoencoder from 'diffuse autoencoder train --kind vq')");
    if (listCheckpoints(root).length > 0) throw new UsageError(`${out} already holds a training run; pass --resume to continue it, or choose another --out`);
    const loaded = loadAutoencoder(f.autoencoder as string, { kind: 'vq', what: "'diffuse prior train'" });
    const [, h] = loaded.ae.latentShape();
    const classCond = f.classCond === true;
    cfg = {
      kind: 'prior',
      autoencoder: latentAutoencoderConfig(loaded, false),
      prior: {
        numEmbeddings: loaded.config.autoencoder.codebookSize, channels: (f.channels as number | undefined) ?? 64,
        numLayers: (f.layers as number | undefined) ?? 8, kernelSize: (f.kernelSize as number | undefined) ?? 3, numClasses: classCond ? 10 : 0,
      },
      latentSize: h,
      optim: { lr: (f.lr as number | undefined) ?? 1e-3, weightDecay: 0, warmupSteps: 100, batchSize: (f.batchSize as number | undefined) ?? 64, gradClip: 1 },
      run: {
        data: (f.data as string | undefined) ?? 'mnist', limit: (f.limit as number | undefined) ?? 0, seed: (f.seed as number | undefined) ?? 0, classCond,
        steps: (f.steps as number | undefined) ?? 3000, minutes: (f.minutes as number | undefined) ?? 0, logInterval: (f.logInterval as number | undefined) ?? 50,
        saveInterval: (f.saveInterval as number | undefined) ?? 500, previewInterval: (f.previewInterval as number | undefined) ?? 0, keepCheckpoints: 3,
      },
    };
    if (cfg.prior.kernelSize % 2 !== 1) throw new UsageError(`--kernel-size ${cfg.prior.kernelSize}: the masked convolutions need an odd size`);
  }
  const ae = frozenAutoencoder(cfg.autoencoder);
  const data = await indexDataset(ae, cfg.run.data, cfg.run.limit);
  if (cfg.run.classCond && data.numClasses === 0) throw new UsageError(`${cfg.run.data}: --class-cond needs labelled data`);
  if (cfg.run.classCond) cfg.prior.numClasses = Math.max(cfg.prior.numClasses, data.numClasses);
  const loader = new BatchLoader(data, { batchSize: cfg.optim.batchSize, seed: cfg.run.seed, randomFlip: false, position: resume?.state.data as LoaderPosition | undefined });
  console.log(`training a gated PixelCNN prior (${cfg.prior.numLayers} layers, ${cfg.prior.channels} channels) over ${data.length} maps of ${cfg.latentSize}×${cfg.latentSize} codes (K = ${cfg.prior.numEmbeddings}) → ${out}`);
  let r;
  try {
    r = await runFolderTraining<GatedPixelCNN>({
      out, label: 'prior', config: cfg,
      describe: (row) => `${fmt(row.bits_per_code)} bits/code`,
      onPreview: async (file, net) => {
        const { x, y } = samplePrior(net, ae, cfg, { n: 16, temperature: 1, seed: 0 });
        const [, C, H] = x.shape as [number, number, number];
        await writePng(file, makeGrid({ data: toUint8NHWC(x), n: 16, height: H, width: H, channels: C }, { nrow: 4 }));
        x.dispose();
        y?.dispose();
      },
      train: (ctx) => trainPrior({ config: cfg, checkpointRoot: root, data: loader, resume, ...ctx }),
    });
  } finally {
    await loader.close();
  }
  const how = r.reason === 'signal' ? `stopped by ${r.signal}` : r.reason === 'minutes' ? 'time budget reached' : 'done';
  console.log(`${how}: step ${r.step}, ${(r.seconds / 60).toFixed(1)} min`);
  console.log(`checkpoint: ${r.checkpointDir}`);
  console.log(`sample it:  diffuse prior sample --checkpoint ${out} --n 64 --out ${path.join(out, 'samples')}`);
  return r.exitCode;
}

async function sample(f: Record<string, FlagValue>): Promise<number> {
  if (f.checkpoint === undefined || f.out === undefined) throw new UsageError("'diffuse prior sample' needs --checkpoint PRIOR and --out DIR");
  const ck = loadCheckpoint(f.checkpoint as string, { weightsOnly: true, emaRate: null });
  if (!isPriorConfig(ck.state.config)) {
    torch.dispose(ck.model);
    throw new CheckpointError(`${ck.dir}: not a prior checkpoint; give the output folder of 'diffuse prior train'`);
  }
  const cfg = ck.state.config as unknown as PriorTrainConfig;
  const net = torch.tidy(() => new GatedPixelCNN({ ...cfg.prior, generator: new torch.Generator({ seed: 0 }) }));
  try {
    net.loadStateDict(ck.model);
  } catch (e) {
    throw new CheckpointError(`${ck.dir}: the weights do not fit its config (${(e as Error).message.split('\n')[0]})`);
  } finally {
    torch.dispose(ck.model);
  }
  net.eval();
  const ae = frozenAutoencoder(cfg.autoencoder);
  const n = (f.n as number | undefined) ?? 64;
  const classes = f.class as number[] | undefined;
  if (classes !== undefined && cfg.prior.numClasses === 0) throw new UsageError('--class: this prior is unconditional (train it with --class-cond)');
  const bad = classes?.find((c) => c >= cfg.prior.numClasses);
  if (bad !== undefined) throw new UsageError(`--class ${bad}: this prior has classes 0–${cfg.prior.numClasses - 1}`);
  const t0 = performance.now();
  const batch = 64;
  const parts: Uint8Array[] = [];
  const labels: bigint[] = [];
  let C = 1;
  let H = 0;
  for (let start = 0; start < n; start += batch) {
    const { x, y } = samplePrior(net, ae, cfg, { n: Math.min(batch, n - start), classes, temperature: (f.temperature as number | undefined) ?? 1, seed: ((f.seed as number | undefined) ?? 0) + start });
    [, C, H] = x.shape as [number, number, number];
    parts.push(toUint8NHWC(x));
    if (y !== undefined) labels.push(...(y.data() as BigInt64Array));
    x.dispose();
    y?.dispose();
  }
  const seconds = (performance.now() - t0) / 1000;
  const images = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    images.set(p, off);
    off += p.length;
  }
  const out = f.out as string;
  mkdirSync(out, { recursive: true });
  await writePng(path.join(out, 'grid.png'), makeGrid({ data: images, n, height: H, width: H, channels: C }, { nrow: Math.ceil(Math.sqrt(n)) }));
  await writeNpz(path.join(out, 'samples.npz'), {
    arr_0: { dtype: 'uint8', shape: [n, H, H, C], data: images },
    ...(labels.length > 0 ? { arr_1: { dtype: 'int64' as const, shape: [n], data: BigInt64Array.from(labels) } } : {}),
  });
  console.log(`${n} samples in ${seconds.toFixed(1)} s (${(n / seconds).toFixed(1)} samples/s, ${cfg.latentSize ** 2} PixelCNN passes per batch + decode)`);
  console.log(`grid:    ${path.join(out, 'grid.png')}`);
  console.log(`arrays:  ${path.join(out, 'samples.npz')} (arr_0 uint8 ${n}×${H}×${H}×${C}${labels.length ? ', arr_1 labels' : ''})`);
  return 0;
}

export const command: Command = {
  spec: {
    name: 'prior',
    summary: 'train or sample a gated PixelCNN prior over a VQ autoencoder’s codes (VQ-VAE stage 2)',
    usage: 'diffuse prior train --autoencoder VQ_AE --out DIR [--class-cond] [--steps N | --minutes M] | sample --checkpoint PRIOR --out DIR [--n 64]',
    positionals: [{ name: 'train|sample' }],
    flags: [
      { key: 'autoencoder', type: 'string', help: "train: the frozen VQ autoencoder ('diffuse autoencoder train --kind vq' output)", group: 'Prior' },
      { key: 'checkpoint', type: 'string', help: 'sample: the prior (output folder or checkpoint directory)' },
      { key: 'out', type: 'string', help: 'train: output folder; sample: folder for grid.png and samples.npz' },
      { key: 'resume', type: 'bool', help: 'train: continue the run in --out (bit-exact)' },
      { key: 'data', type: 'string', help: "train: images whose codes are modelled ('mnist', a folder, an .npz)", defaultText: 'mnist' },
      { key: 'limit', type: 'int', min: 0, help: 'train: use only the first N images (0 = all)' },
      { key: 'classCond', type: 'bool', help: 'train: condition on the class (a learned bias per gated layer)' },
      { key: 'channels', type: 'int', min: 4, help: 'train: hidden channels', defaultText: '64' },
      { key: 'layers', type: 'int', min: 1, help: 'train: gated layers', defaultText: '8' },
      { key: 'kernelSize', type: 'int', min: 3, help: 'train: masked kernel size (odd)', defaultText: '3' },
      { key: 'lr', type: 'float', min: 0, help: 'train: AdamW learning rate', defaultText: '1e-3', group: 'Training' },
      { key: 'batchSize', type: 'int', min: 1, help: 'train: code maps per step', defaultText: '64' },
      { key: 'steps', type: 'int', min: 0, help: 'train: optimizer steps', defaultText: '3000' },
      { key: 'minutes', type: 'float', min: 0, help: 'train: wall-clock budget (0 = none)' },
      { key: 'logInterval', type: 'int', min: 0, help: 'train: log every N steps', defaultText: '50' },
      { key: 'saveInterval', type: 'int', min: 0, help: 'train: checkpoint every N steps', defaultText: '500' },
      { key: 'previewInterval', type: 'int', min: 0, help: 'train: a sample grid every N steps (0 = off)' },
      { key: 'seed', type: 'int', min: 0, help: 'random seed', defaultText: '0' },
      { key: 'n', type: 'int', min: 1, help: 'sample: how many', defaultText: '64', group: 'Sampling' },
      { key: 'class', type: 'ints', min: 0, help: 'sample: classes to cycle through (class-conditional priors)' },
      { key: 'temperature', type: 'float', min: 0.01, help: 'sample: divide the logits by this', defaultText: '1' },
      THREADS_FLAG,
    ],
  },
  async run(args) {
    const f = args.flags;
    if (f.threads !== undefined) torch.setNumThreads(f.threads as number);
    switch (args.positionals[0]) {
      case 'train': return train(f);
      case 'sample': return sample(f);
      default: throw new UsageError(`unknown action '${args.positionals[0]}' for 'diffuse prior' (actions: train, sample)`);
    }
  },
};
