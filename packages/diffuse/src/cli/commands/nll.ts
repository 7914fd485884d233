// `diffuse nll`: the negative log-likelihood bound of data under a checkpoint, in bits/dim, with
// improved-diffusion's breakdown (prior, KL terms by timestep quarter, decoder NLL).
import { calcNll, type NllResult } from '../../eval/nll.js';
import { openImageSet } from '../../eval/image-sets.js';
import { loadPipeline } from '../../pipeline/load.js';
import { encodeDataset } from '../../pipeline/latent.js';
import { createDiffusion } from '../../train/factory.js';
import type { FlagSpec } from '../args.js';
import { UsageError } from '../args.js';
import type { Precision } from '../../models/precision.js';
import { applyMachineFlags, PRECISION_FLAG, THREADS_FLAG } from '../common-flags.js';
import type { Command } from '../main.js';
import { Progress } from '../progress.js';
import { writeNllReport } from '../../report/eval-report.js';
import { emaOption, refuseClipModel } from './sample.js';

const FLAGS: FlagSpec[] = [
  { key: 'checkpoint', type: 'string', help: "a training output folder, a checkpoint directory, or a shipped model name (e.g. 'digits-cpu')", group: 'Model' },
  { key: 'ema', type: 'string', help: "EMA rate to use, or 'none' for the raw weights", defaultText: 'the first EMA rate' },
  { key: 'data', type: 'string', help: "images: 'mnist', 'mnist:train', 'mnist:test', an .npz, or an image folder", defaultText: "the checkpoint's training data", group: 'Data' },
  { key: 'n', type: 'int', min: 1, help: 'evaluate the first N images', defaultText: 'all' },
  { key: 'batchSize', type: 'int', min: 1, help: 'images per batch (each batch costs T model evaluations)', defaultText: '32' },
  { key: 'clipDenoised', type: 'bool', help: 'clamp predicted x_0 to [-1, 1] (--no-clip-denoised to turn off)', defaultText: 'true' },
  { key: 'seed', type: 'int', min: 0, help: 'seed of the noise draws', defaultText: '0' },
  { key: 'json', type: 'bool', help: 'print the results as JSON on stdout', group: 'Output' },
  { key: 'report', type: 'string', help: 'also write DIR/nll.png, nll.svg and nll.html (the breakdown as a bar chart)' },
  THREADS_FLAG,
  PRECISION_FLAG,
];

/** The breakdown as lines for the terminal. */
export function formatNll(r: NllResult, what: string): string[] {
  const q = (i: number): string => `[${Math.max(1, Math.ceil((i * r.T) / 4))}, ${Math.ceil(((i + 1) * r.T) / 4)})`;
  const row = (label: string, v: number): string => `  ${label.padEnd(28)}${v.toFixed(4)}`;
  return [
    `NLL ${r.bpd.toFixed(4)} ± ${r.bpdStderr.toFixed(4)} bits/dim  (variational bound on ${r.n} images of ${what}, T = ${r.T})`,
    row('prior L_T', r.prior),
    ...[3, 2, 1, 0].map((i) => row(`Σ L_t, t in ${q(i)}`, r.vbQuartiles[i]!)),
    row('decoder L_0', r.decoder),
    row('total', r.bpd),
    `  mse(ε) ${r.mse.toExponential(3)}, mse(x_0) ${r.xstartMse.toExponential(3)} (means over t)`,
  ];
}

export const command: Command = {
  spec: {
    name: 'nll',
    summary: 'negative log-likelihood (bits/dim) of data under a checkpoint, through the full variational bound',
    usage: 'diffuse nll --checkpoint DIR|NAME [--data mnist|DIR|FILE.npz] [--n N] [--batch-size N] [--json] [--report DIR]',
    flags: FLAGS,
  },
  async run(args) {
    const f = args.flags;
    applyMachineFlags(f);
    if (f.checkpoint === undefined) throw new UsageError("'diffuse nll' needs --checkpoint (a training output folder, or 'digits-cpu' for the shipped model)");
    const pipe = loadPipeline(f.checkpoint as string, { ema: emaOption(f.ema), precision: f.precision as Precision | undefined });
    refuseClipModel(pipe, 'diffuse nll');
    const { config } = pipe;
    const data = (f.data as string | undefined) ?? config.run.data;
    const pixels = config.autoencoder ?? config.model;
    let images = await openImageSet(data, { size: pixels.imageSize, channels: pixels.channels as 1 | 3 });
    // A latent model's bound is on the autoencoder's scaled latents of the images (LDM's), per latent dimension.
    if (config.autoencoder !== undefined) images = await encodeDataset(config.autoencoder, images);
    const what = config.autoencoder !== undefined ? `${data}, encoded (latent bits/dim: of the autoencoder's latents, not comparable to pixel bits/dim)` : data;
    const progress = new Progress('nll');
    const t0 = Date.now();
    try {
      const r = await calcNll(createDiffusion(config.diffusion), pipe.spec.model, images, {
        n: f.n as number | undefined,
        batchSize: f.batchSize as number | undefined,
        clipDenoised: ((f.clipDenoised as boolean | undefined) ?? true) && config.autoencoder === undefined,
        seed: f.seed as number | undefined,
        numClasses: config.model.numClasses,
        progress: (done, total) => progress.update(done / total, (Date.now() - t0) / 1000, `${done}/${total} model evaluations`),
      });
      progress.clear();
      const seconds = (Date.now() - t0) / 1000;
      if (f.json) {
        console.log(JSON.stringify({ checkpoint: pipe.dir, step: pipe.step, ema: pipe.emaRate, data, latent: config.autoencoder !== undefined, seconds, ...r }, null, 2));
      } else {
        console.log(formatNll(r, what).join('\n'));
        console.log(`\n${pipe.dir} (step ${pipe.step}${pipe.emaRate !== null ? `, EMA ${pipe.emaRate}` : ''}), ${seconds.toFixed(1)} s`);
      }
      if (f.report !== undefined) {
        const files = await writeNllReport(f.report as string, r, { data, checkpoint: pipe.dir, step: pipe.step });
        console.error(`report: ${files.join(', ')}`);
      }
    } finally {
      progress.clear();
    }
    return 0;
  },
};
