// `diffuse autoencoder train|reconstruct|encode|info`: the first stage of latent diffusion — a
// KL (VAE) or VQ (VQ-VAE) autoencoder — trained on images, checked by its reconstructions
// (MSE, PSNR, a grid), and used to encode images to latents or code indices.
import path from 'node:path';

import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { writeNpz } from '../../io/npz.js';
import { openImageSet } from '../../eval/image-sets.js';
import { AutoencoderConfigError } from '../../models/autoencoder.js';
import { encodeScaled, loadAutoencoder } from '../../pipeline/autoencoder.js';
import { toUint8NHWC } from '../../pipeline/generate.js';
import { AUTOENCODER_PRESETS, discConfigOf, isAutoencoderConfig, resolveAutoencoderConfig, type AutoencoderTrainConfig } from '../../train/autoencoder-config.js';
import { CheckpointError, loadCheckpoint, resolveCheckpointDir } from '../../train/checkpoint.js';
import type { DeepPartial } from '../../train/config.js';
import { UsageError, type FlagSpec, type FlagValue } from '../args.js';
import { firstImages, runAutoencoderTraining, writeReconstructionGrid } from '../autoencoder-run.js';
import { THREADS_FLAG } from '../common-flags.js';
import type { Command } from '../main.js';

type Section = 'autoencoder' | 'disc' | 'optim' | 'run';
/** Each flag of `train` and the config field it sets. */
const CONFIG_FLAGS: (FlagSpec & { section: Section; field: string })[] = [
  { section: 'run', field: 'data', key: 'data', type: 'string', help: "training images: 'mnist', an image folder, or an .npz", group: 'Data' },
  { section: 'run', field: 'limit', key: 'limit', type: 'int', min: 0, help: 'use only the first N images (mnist; 8000 keeps the 2,000 held-out digits unseen; 0 = all)' },
  { section: 'autoencoder', field: 'imageSize', key: 'imageSize', type: 'int', min: 8, max: 1024, help: 'image side in pixels' },
  { section: 'autoencoder', field: 'inChannels', key: 'channels', type: 'int', min: 1, max: 3, help: '1 = grayscale, 3 = RGB' },
  { section: 'autoencoder', field: 'kind', key: 'kind', type: 'string', choices: ['kl', 'vq'], help: 'bottleneck: kl (VAE) or vq (VQ-VAE)', group: 'Autoencoder' },
  { section: 'autoencoder', field: 'channels', key: 'baseChannels', type: 'int', min: 4, help: 'base width of the encoder/decoder' },
  { section: 'autoencoder', field: 'channelMult', key: 'channelMult', type: 'ints', min: 1, help: 'width multiplier per level; f = 2^(levels−1): 2, 3 or 4 levels for f = 2, 4, 8' },
  { section: 'autoencoder', field: 'numResBlocks', key: 'numResBlocks', type: 'int', min: 1, help: 'ResNet blocks per level' },
  { section: 'autoencoder', field: 'zChannels', key: 'zChannels', type: 'int', min: 1, help: 'latent channels c' },
  { section: 'autoencoder', field: 'attention', key: 'attention', type: 'bool', help: 'self-attention at the lowest resolution' },
  { section: 'autoencoder', field: 'recLoss', key: 'recLoss', type: 'string', choices: ['l1', 'l2'], help: 'reconstruction loss' },
  { section: 'autoencoder', field: 'klWeight', key: 'klWeight', type: 'float', min: 0, help: "KL: β, the KL weight (LDM's kl_weight)" },
  { section: 'autoencoder', field: 'codebookSize', key: 'codebookSize', type: 'int', min: 2, help: 'VQ: K, the number of codes' },
  { section: 'autoencoder', field: 'commitmentBeta', key: 'commitmentBeta', type: 'float', min: 0, help: 'VQ: β, the commitment weight' },
  { section: 'autoencoder', field: 'emaDecay', key: 'emaDecay', type: 'float', min: 0, max: 0.99999, help: 'VQ: update the codebook by EMA with this decay (0 = by its loss term)' },
  { section: 'autoencoder', field: 'reviveThreshold', key: 'reviveThreshold', type: 'float', min: 0, help: 'VQ: revive codes used less than this many times per batch on average (0 = never)' },
  { section: 'disc', field: 'weight', key: 'discWeight', type: 'float', min: 0, help: "VQGAN's patch discriminator: weight of its adversarial term, times the adaptive weight (0 = off)", group: 'Discriminator', defaultText: '0' },
  { section: 'disc', field: 'start', key: 'discStart', type: 'int', min: 0, help: 'steps before the discriminator trains and its term is used', defaultText: '1000' },
  { section: 'disc', field: 'layers', key: 'discLayers', type: 'int', min: 1, help: 'strided layers of the PatchGAN (2 gives 5×5 patch logits on 28×28)', defaultText: '2' },
  { section: 'disc', field: 'channels', key: 'discChannels', type: 'int', min: 1, help: 'width of its first layer', defaultText: '32' },
  { section: 'disc', field: 'lr', key: 'discLr', type: 'float', min: 0, help: "its AdamW learning rate, betas (0.5, 0.9) (0 = the autoencoder's --lr)", defaultText: '0' },
  { section: 'disc', field: 'loss', key: 'discLoss', type: 'string', choices: ['hinge', 'vanilla'], help: 'its loss', defaultText: 'hinge' },
  { section: 'optim', field: 'lr', key: 'lr', type: 'float', min: 0, help: 'AdamW learning rate', group: 'Training' },
  { section: 'optim', field: 'batchSize', key: 'batchSize', type: 'int', min: 1, help: 'images per step' },
  { section: 'optim', field: 'warmupSteps', key: 'warmupSteps', type: 'int', min: 0, help: 'linear learning-rate warmup steps' },
  { section: 'optim', field: 'gradClip', key: 'gradClip', type: 'float', min: 0, help: 'clip the gradient norm (0 = off)' },
  { section: 'run', field: 'steps', key: 'steps', type: 'int', min: 0, help: 'optimizer steps', group: 'Run' },
  { section: 'run', field: 'minutes', key: 'minutes', type: 'float', min: 0, help: 'wall-clock budget in minutes (0 = none)' },
  { section: 'run', field: 'logInterval', key: 'logInterval', type: 'int', min: 0, help: 'log every N steps' },
  { section: 'run', field: 'saveInterval', key: 'saveInterval', type: 'int', min: 0, help: 'checkpoint every N steps (and at the end)' },
  { section: 'run', field: 'previewInterval', key: 'previewInterval', type: 'int', min: 0, help: 'input-vs-reconstruction grid every N steps (0 = off)' },
  { section: 'run', field: 'keepCheckpoints', key: 'keepCheckpoints', type: 'int', min: 0, help: 'keep the last K checkpoints (0 = all)' },
  { section: 'run', field: 'seed', key: 'seed', type: 'int', min: 0, help: 'random seed' },
];
/** What a resumed run may change. */
const RESUMABLE = new Set(['steps', 'minutes', 'logInterval', 'saveInterval', 'previewInterval', 'keepCheckpoints']);

function flagsToConfig(f: Record<string, FlagValue>): DeepPartial<AutoencoderTrainConfig> {
  const out: Record<string, Record<string, FlagValue>> = {};
  for (const c of CONFIG_FLAGS) if (f[c.key] !== undefined) (out[c.section] ??= {})[c.field] = f[c.key]!;
  return out as DeepPartial<AutoencoderTrainConfig>;
}

function needCheckpoint(f: Record<string, FlagValue>, action: string): string {
  if (f.checkpoint === undefined) throw new UsageError(`'diffuse autoencoder ${action}' needs --checkpoint AE (the output folder of 'diffuse autoencoder train')`);
  return f.checkpoint as string;
}

async function train(f: Record<string, FlagValue>): Promise<number> {
  const out = f.out as string | undefined;
  if (out === undefined) throw new UsageError("'diffuse autoencoder train' needs --out DIR");
  let cfg: AutoencoderTrainConfig;
  let resume;
  if (f.resume) {
    if (f.preset !== undefined) throw new UsageError('--resume takes the configuration from the checkpoint; drop --preset');
    const changed = CONFIG_FLAGS.filter((c) => f[c.key] !== undefined && !RESUMABLE.has(c.key));
    if (changed.length > 0) throw new UsageError(`--resume continues the saved run's autoencoder and optimizer; drop --${changed.map((c) => c.key.replace(/[A-Z]/g, (x) => '-' + x.toLowerCase())).join(', --')}`);
    resume = loadCheckpoint(resolveCheckpointDir(path.join(out, 'checkpoints')));
    if (!isAutoencoderConfig(resume.state.config)) throw new CheckpointError(`${resume.dir}: not an autoencoder run (continue it with 'diffuse train --resume')`);
    cfg = structuredClone(resume.state.config as unknown as AutoencoderTrainConfig);
    Object.assign(cfg.run, flagsToConfig(f).run ?? {});
    console.log(`resuming ${resume.dir} at step ${resume.state.step}`);
  } else {
    try {
      cfg = resolveAutoencoderConfig(f.preset as string | undefined, flagsToConfig(f));
    } catch (e) {
      if (e instanceof RangeError) throw new UsageError(e.message);
      throw e;
    }
  }
  const r = await runAutoencoderTraining(cfg, out, resume);
  const how = r.reason === 'signal' ? `stopped by ${r.signal}` : r.reason === 'minutes' ? 'time budget reached' : 'done';
  console.log(`${how}: step ${r.step}, ${(r.seconds / 60).toFixed(1)} min`);
  console.log(`checkpoint: ${r.checkpointDir}`);
  console.log(`check it:   diffuse autoencoder reconstruct --checkpoint ${out} --data mnist:test --out ${path.join(out, 'reconstructions.png')}`);
  return r.exitCode;
}

/** Mean squared error and PSNR over images in [−1, 1] (PSNR on the [0, 1] scale, peak 1). */
function reconstructionError(x: Tensor, xrec: Tensor): { mse: number; psnr: number } {
  const mse = torch.tidy(() => xrec.clamp(-1, 1).sub(x).div(2).square().mean().item()); // on [0, 1]
  return { mse, psnr: 10 * Math.log10(1 / mse) };
}

async function reconstruct(f: Record<string, FlagValue>): Promise<number> {
  const { ae, config, dir } = loadAutoencoder(needCheckpoint(f, 'reconstruct'));
  const a = config.autoencoder;
  const data = (f.data as string | undefined) ?? 'mnist:test';
  const n = (f.n as number | undefined) ?? 2000;
  const { x } = await firstImages(await openImageSet(data, { size: a.imageSize, channels: a.inChannels as 1 | 3 }), n);
  let sum = 0;
  const used = new Set<number>();
  const npz = f.npz as string | undefined;
  if (npz !== undefined && !npz.toLowerCase().endsWith('.npz')) throw new UsageError(`--npz ${npz}: the file name must end in .npz`);
  const frame = a.imageSize * a.imageSize * a.inChannels;
  const images = npz === undefined ? null : new Uint8Array(x.size(0) * frame); // (N, H, W, C) for diffuse fid
  torch.noGrad(() => {
    for (let i = 0; i < x.size(0); i += 250) {
      torch.tidy(() => {
        const xi = x.narrow(0, i, Math.min(250, x.size(0) - i));
        if (ae.quantize !== null) for (const k of ae.quantizeImages(xi).indices.flatten().toArray()) used.add(k);
        const xrec = ae.decode(ae.encode(xi)); // (b, C, H, W)
        sum += reconstructionError(xi, xrec).mse * xi.size(0);
        images?.set(toUint8NHWC(xrec), i * frame);
      });
    }
  });
  const mse = sum / x.size(0);
  console.log(`${dir}: ${x.size(0)} images of ${data}: MSE ${mse.toExponential(3)} (pixels on [0, 1]), PSNR ${(10 * Math.log10(1 / mse)).toFixed(2)} dB` +
    (ae.quantize !== null ? `, ${used.size}/${a.codebookSize} codes used` : ''));
  if (f.out !== undefined) {
    await writeReconstructionGrid(f.out as string, ae, x, 16);
    console.log(`inputs above reconstructions: ${f.out as string}`);
  }
  if (images !== null) {
    await writeNpz(npz!, { arr_0: { dtype: 'uint8', shape: [x.size(0), a.imageSize, a.imageSize, a.inChannels], data: images } });
    console.log(`reconstructions as images: ${npz!} (compare them with 'diffuse fid ${npz!} ${data}')`);
  }
  x.dispose();
  return 0;
}

async function encode(f: Record<string, FlagValue>): Promise<number> {
  const ckpt = needCheckpoint(f, 'encode');
  if (f.out === undefined) throw new UsageError("'diffuse autoencoder encode' needs --out FILE.npz");
  if (f.indices && f.sample) throw new UsageError('--indices (VQ) and --sample (KL) exclude each other');
  const need = f.indices ? { kind: 'vq' as const, what: '--indices' } : f.sample ? { kind: 'kl' as const, what: '--sample (a posterior sample)' } : undefined;
  const { ae, config } = loadAutoencoder(ckpt, need);
  const a = config.autoencoder;
  const data = (f.data as string | undefined) ?? 'mnist';
  const { x, labels } = await firstImages(await openImageSet(data, { size: a.imageSize, channels: a.inChannels as 1 | 3 }), (f.n as number | undefined) ?? Infinity);
  const [c, h, w] = ae.latentShape();
  const N = x.size(0);
  const arrays: Parameters<typeof writeNpz>[1] = {};
  if (f.indices) {
    const idx = torch.noGrad(() => torch.tidy(() => ae.quantizeImages(x).indices.keep()));
    arrays.arr_0 = { dtype: 'int64', shape: [N, h, w], data: idx.data() as BigInt64Array };
    idx.dispose();
  } else {
    const z = f.sample
      ? torch.noGrad(() => torch.tidy(() => ae.encodeKL(x).sample(new torch.Generator({ seed: (f.seed as number | undefined) ?? 0 })).mul(a.scaleFactor).keep()))
      : encodeScaled(ae, x, a.scaleFactor);
    arrays.arr_0 = { dtype: 'float32', shape: [N, c, h, w], data: z.contiguous().data() as Float32Array };
    z.dispose();
  }
  if (labels.every((l) => l >= 0)) arrays.arr_1 = { dtype: 'int64', shape: [N], data: BigInt64Array.from(labels, BigInt) };
  x.dispose();
  await writeNpz(f.out as string, arrays);
  console.log(f.indices ? `${N} code-index maps ${h}×${w} → ${f.out as string}` : `${N} latents ${c}×${h}×${w} (× scale factor ${a.scaleFactor.toPrecision(4)}) → ${f.out as string}`);
  return 0;
}

function info(f: Record<string, FlagValue>): number {
  const { ae, config, dir, step, hash } = loadAutoencoder(needCheckpoint(f, 'info'));
  const a = config.autoencoder;
  const params = ae.parameters().reduce((s, p) => s + p.numel(), 0);
  const [c, h, w] = ae.latentShape();
  console.log(`${dir}: ${a.kind === 'kl' ? 'KL (VAE)' : 'VQ (VQ-VAE)'} autoencoder, step ${step}, ${params.toLocaleString('en-US')} parameters, weights ${hash}`);
  console.log(`  images ${a.imageSize}×${a.imageSize}×${a.inChannels} → latents ${c}×${h}×${w} (f = ${ae.factor}), width ${a.channels}×[${a.channelMult.join(', ')}], ${a.numResBlocks} ResNet blocks per level${a.attention ? ', attention at the lowest resolution' : ''}`);
  console.log(a.kind === 'kl'
    ? `  KL weight ${a.klWeight}, scale factor ${a.scaleFactor.toPrecision(5)} (1/std of training latents)`
    : `  codebook ${a.codebookSize}×${a.zChannels}, β ${a.commitmentBeta}, ${a.emaDecay > 0 ? `EMA decay ${a.emaDecay}` : 'codebook loss'}, revive below ${a.reviveThreshold}, scale factor ${a.scaleFactor.toPrecision(5)}`);
  const d = discConfigOf(config);
  if (d.weight > 0) {
    console.log(`  trained with a ${d.layers}-layer patch discriminator (width ${d.channels}, ${d.loss} loss, weight ${d.weight} × adaptive weight from step ${d.start}); its weights and optimizer are in train-state.safetensors`);
  }
  console.log(`  trained on ${config.run.data}${config.run.limit > 0 ? ` (first ${config.run.limit})` : ''}, ${a.recLoss.toUpperCase()} reconstruction loss`);
  return 0;
}

export const command: Command = {
  spec: {
    name: 'autoencoder',
    summary: 'train a KL or VQ autoencoder (the first stage of latent diffusion); reconstruct, encode, info',
    usage: 'diffuse autoencoder train --out DIR [--preset digits-vae-f4|digits-vq] [flags] | reconstruct|encode|info --checkpoint AE [flags]',
    config: true,
    positionals: [{ name: 'train|reconstruct|encode|info' }],
    flags: [
      { key: 'out', type: 'string', help: 'train: output folder; reconstruct: a PNG grid; encode: an .npz', group: 'Run' },
      { key: 'preset', type: 'string', choices: Object.keys(AUTOENCODER_PRESETS), help: 'train: start from a named configuration' },
      { key: 'resume', type: 'bool', help: 'train: continue the run in --out (bit-exact)' },
      { key: 'checkpoint', type: 'string', help: 'reconstruct/encode/info: the autoencoder (output folder or checkpoint directory)' },
      { key: 'n', type: 'int', min: 1, help: 'reconstruct/encode: use the first N images', defaultText: 'reconstruct 2000, encode all' },
      { key: 'npz', type: 'string', help: 'reconstruct: also write the reconstructions as an .npz of uint8 images (for diffuse fid)' },
      { key: 'indices', type: 'bool', help: 'encode (VQ): write the code indices (N, h, w) instead of latents' },
      { key: 'sample', type: 'bool', help: 'encode (KL): a posterior sample instead of its mean' },
      ...CONFIG_FLAGS.map(({ section: _s, field: _f, ...spec }) => spec),
      THREADS_FLAG,
    ],
  },
  async run(args) {
    const f = args.flags;
    if (f.threads !== undefined) torch.setNumThreads(f.threads as number);
    const action = args.positionals[0];
    try {
      switch (action) {
        case 'train': return await train(f);
        case 'reconstruct': return await reconstruct(f);
        case 'encode': return await encode(f);
        case 'info': return info(f);
        default: throw new UsageError(`unknown action '${action}' for 'diffuse autoencoder' (actions: train, reconstruct, encode, info)`);
      }
    } catch (e) {
      if (e instanceof AutoencoderConfigError) throw new UsageError(e.message);
      throw e;
    }
  },
};
