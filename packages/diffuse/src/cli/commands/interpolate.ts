// `diffuse interpolate`: a morph between two images through their DDIM inversions (slerp of the
// x_T; --attention interpolates self-attention K/V between the ends, DiffMorpher-style; with a
// class-conditional model, --class-a/--class-b and the class embeddings lerped) →
// images/, grid.png (the strip), morph.gif.
import * as torch from '@diffuse/torch';

import { interpolate } from '../../edit/interpolate.js';
import { UsageError } from '../args.js';
import { checkOut, readInputImages, writeEditOutputs } from '../edit-io.js';
import { MODEL_FLAGS, OUT_AND_MACHINE_FLAGS, startEditCommand } from '../edit-flags.js';
import type { Command } from '../main.js';
import { Progress } from '../progress.js';
import { meanFrameChange } from './edit.js';
import { checkClamp, emaOption, loadSamplingPipeline } from './sample.js';

export const command: Command = {
  spec: {
    name: 'interpolate',
    summary: 'morph between two images: slerp of their DDIM inversions (optionally attention interpolation)',
    usage: 'diffuse interpolate --checkpoint DIR|NAME --a IMG --b IMG --out DIR [--n 8] [--steps 50] [--attention]',
    flags: [
      ...MODEL_FLAGS,
      { key: 'a', type: 'string', help: 'the first image', group: 'Interpolation' },
      { key: 'b', type: 'string', help: 'the last image' },
      { key: 'n', type: 'int', min: 2, max: 256, help: 'images in the strip, ends included', defaultText: '8' },
      { key: 'steps', type: 'int', min: 1, help: 'DDIM steps of the inversions and the samples', defaultText: '50' },
      { key: 'classA', type: 'int', min: 0, help: "class of --a (class-conditional models; the strip lerps the class embeddings)" },
      { key: 'classB', type: 'int', min: 0, help: 'class of --b (class-conditional models)' },
      { key: 'sigmaMax', type: 'float', help: 'invert and sample no higher than this σ (see diffuse invert)', defaultText: "the model's σ(T−1)" },
      { key: 'attention', type: 'bool', help: "interpolate self-attention keys and values between the ends' (DiffMorpher)", defaultText: 'false' },
      ...OUT_AND_MACHINE_FLAGS,
    ],
  },
  async run(args) {
    const f = args.flags;
    const device = startEditCommand(f, 'interpolate', { a: '--a IMG', b: '--b IMG' });
    const out = checkOut(f.out as string | undefined, 'interpolate', 'morph.gif');
    emaOption(f.ema);
    const pipe = loadSamplingPipeline(f, device, { command: 'diffuse interpolate' });
    const k = pipe.config.model.numClasses;
    const [ca, cb] = [f.classA as number | undefined, f.classB as number | undefined];
    if (k === 0 && (ca !== undefined || cb !== undefined)) throw new UsageError('--class-a/--class-b: this model is not class-conditional');
    if (k > 0 && (ca === undefined || cb === undefined)) throw new UsageError('interpolate: a class-conditional model needs --class-a K and --class-b K');
    if (k > 0 && (ca! >= k || cb! >= k)) throw new UsageError(`--class-a/--class-b: this model has classes 0..${k - 1}`);
    const classes = k > 0 ? { a: ca!, b: cb!, count: pipe.model.labelEmb!.numEmbeddings } : undefined;
    const { imageSize: size, channels } = pipe.config.model;
    const a = await readInputImages(f.a as string, size, channels, '--a');
    const b = await readInputImages(f.b as string, size, channels, '--b');
    if (a.files.length !== 1 || b.files.length !== 1) throw new UsageError('--a and --b: give one image each, not a folder');
    const n = (f.n as number | undefined) ?? 8;
    const steps = (f.steps as number | undefined) ?? 50;
    if (steps > pipe.spec.alphasCumprod.length) throw new UsageError(`--steps ${steps}: the model has ${pipe.spec.alphasCumprod.length} timesteps`);
    const sm = f.sigmaMax as number | undefined;
    if (sm !== undefined && !(sm > 0)) throw new UsageError(`--sigma-max: must be a noise level > 0, got ${sm}`);
    checkClamp(pipe, { sigmaMax: sm });
    const progress = new Progress('interpolate');
    const t0 = Date.now();
    const strip = interpolate(pipe.spec, a.x.to(pipe.device), b.x.to(pipe.device), {
      n, steps, classes, sigmaMax: f.sigmaMax as number | undefined, attention: f.attention === true ? pipe.model : undefined,
      progress: (done, total) => progress.update(done / total, (Date.now() - t0) / 1000, `${done}/${total} steps`),
    }).to('cpu').keep(); // (n, C, H, W)
    progress.clear();
    const secs = (Date.now() - t0) / 1000;
    // Smoothness: the largest mean |Δ| between neighbours, against the mean one (1 = even steps).
    const steps_ = Array.from({ length: n - 1 }, (_, i) => meanFrameChange(strip.narrow(0, i, 2)));
    const largest = Math.max(...steps_);
    const meanStep = steps_.reduce((s, v) => s + v, 0) / steps_.length;
    const written = await writeEditOutputs(out, { images: strip, gridRows: [strip], gif: 'morph.gif' });
    console.log(`${n}-image morph in ${secs.toFixed(1)} s (DDIM-${steps}${f.attention === true ? ', attention interpolation' : ''}); largest step ${largest.toFixed(3)} = ${(largest / meanStep).toFixed(2)}× the mean step`);
    for (const w of written) console.log(`wrote ${w}`);
    torch.dispose([strip, a.x, b.x]);
    return 0;
  },
};
