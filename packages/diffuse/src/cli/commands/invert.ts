// `diffuse invert`: DDIM inversion of images to x_T (noise.npz, arr_0 float32 N×C×H×W, for
// `diffuse sample --from-noise`), and their reconstruction from it → images/, grid.png (inputs
// over reconstructions), inversion.json (steps, spacing, round-trip MSE per image).
import { writeFile } from 'node:fs/promises';

import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { invert, reconstruct } from '../../edit/invert.js';
import { writeNpz } from '../../io/npz.js';
import { labelsFor } from '../../pipeline/generate.js';
import { TIMESTEP_SPACINGS, type TimestepSpacingName } from '../../samplers/index.js';
import { UsageError } from '../args.js';
import { userRangeError } from '../errors.js';
import { checkOut, readInputImages, writeEditOutputs } from '../edit-io.js';
import { MODEL_FLAGS, OUT_AND_MACHINE_FLAGS, startEditCommand } from '../edit-flags.js';
import type { Command } from '../main.js';
import { Progress } from '../progress.js';
import { checkClamp, emaOption, loadSamplingPipeline } from './sample.js';

export const command: Command = {
  spec: {
    name: 'invert',
    summary: 'DDIM inversion of images to x_T (noise.npz) and their reconstruction',
    usage: 'diffuse invert --checkpoint DIR|NAME --input IMG|DIR --out DIR [--steps 50] [--spacing uniform]',
    flags: [
      ...MODEL_FLAGS,
      { key: 'input', type: 'string', help: 'an image or a folder of images', group: 'Inversion' },
      { key: 'steps', type: 'int', min: 1, help: 'DDIM steps (the same both ways; more steps, smaller round-trip error)', defaultText: '50' },
      { key: 'spacing', type: 'string', choices: TIMESTEP_SPACINGS, help: 'the timestep subsequence', defaultText: 'uniform' },
      { key: 'sigmaMax', type: 'float', help: "invert no higher than this σ (a smaller round-trip error, a less noise-like x_T; give `sample --from-noise` the same)", defaultText: "the model's σ(T−1)" },
      { key: 'class', type: 'ints', min: 0, help: 'class labels, cycled (class-conditional models)' },
      ...OUT_AND_MACHINE_FLAGS,
    ],
  },
  async run(args) {
    const f = args.flags;
    const device = startEditCommand(f, 'invert', { input: '--input IMG|DIR' });
    const out = checkOut(f.out as string | undefined, 'invert', 'noise.npz');
    emaOption(f.ema);
    const pipe = loadSamplingPipeline(f, device, { command: 'diffuse invert' });
    const { imageSize: size, channels } = pipe.config.model;
    const inputs = await readInputImages(f.input as string, size, channels, '--input');
    const n = inputs.files.length;
    const steps = (f.steps as number | undefined) ?? 50;
    if (steps > pipe.spec.alphasCumprod.length) throw new UsageError(`--steps ${steps}: the model has ${pipe.spec.alphasCumprod.length} timesteps`);
    const spacing = (f.spacing as TimestepSpacingName | undefined) ?? 'uniform';
    const y = labelsFor(pipe, 0, n, f.class as number[] | undefined)?.keep();
    const progress = new Progress('invert');
    const t0 = Date.now();
    const tick = (phase: number) => (done: number, total: number): void => progress.update((phase + done / total) / 2, (Date.now() - t0) / 1000, `${phase === 0 ? 'inverting' : 'reconstructing'} ${done}/${total}`);
    const x = inputs.x.to(pipe.device).keep(); // (N, C, H, W)
    const sigmaMax = f.sigmaMax as number | undefined;
    if (sigmaMax !== undefined && !(sigmaMax > 0)) throw new UsageError(`--sigma-max: must be a noise level > 0, got ${sigmaMax}`);
    checkClamp(pipe, { sigmaMax });
    const common = { steps, spacing, sigmaMax, modelKwargs: y ? { y } : {} };
    let xT: Tensor;
    try {
      xT = invert(pipe.spec, x, { ...common, progress: tick(0) }).to('cpu').keep(); // (N, C, H, W)
    } catch (e) {
      userRangeError(e); // e.g. more --steps than timesteps below --sigma-max
    }
    const back = reconstruct(pipe.spec, xT.to(pipe.device), { ...common, progress: tick(1) }).to('cpu').keep(); // (N, C, H, W)
    progress.clear();
    const mse = Array.from(torch.tidy(() => back.sub(inputs.x).square().flatten(1).mean([1]).data() as Float32Array));
    const secs = (Date.now() - t0) / 1000;
    const written = await writeEditOutputs(out, {
      images: back,
      gridRows: [inputs.x, back],
      extra: {
        'noise.npz': (file) => writeNpz(file, { arr_0: { dtype: 'float32', shape: [n, channels, size, size], data: xT.data() as Float32Array } }),
        'inversion.json': (file) => writeFile(file, `${JSON.stringify({ steps, spacing, sigmaMax: sigmaMax ?? null, files: inputs.files, roundTripMse: mse }, null, 1)}\n`),
      },
    });
    const mean = mse.reduce((a, b) => a + b, 0) / n;
    console.log(`${n} image${n > 1 ? 's' : ''} inverted with DDIM-${steps} in ${secs.toFixed(1)} s; round-trip MSE ${mean.toPrecision(3)} (mean; images in [−1, 1])`);
    for (const w of written) console.log(`wrote ${w}`);
    torch.dispose([x, xT, back, inputs.x, ...(y ? [y] : [])]);
    return 0;
  },
};
