// `diffuse animate`: the denoising process as an animated GIF (a grid of samples per frame).
import path from 'node:path';

import { writeGif } from '../../io/gif.js';
import { makeGrid } from '../../io/grid.js';
import type { RawImage } from '../../io/raw-image.js';
import { generateFrames, imageShapeOf } from '../../pipeline/generate.js';
import { UsageError } from '../args.js';
import { applyMachineFlags, DEVICE_FLAG, PRECISION_FLAG, THREADS_FLAG } from '../common-flags.js';
import type { Command } from '../main.js';
import { upscale } from '../edit-io.js';
import { checkClamp, loadSamplingPipeline, samplerChoice, SAMPLING_FLAGS } from './sample.js';

export const command: Command = {
  spec: {
    name: 'animate',
    summary: 'animate the denoising process of a checkpoint as a GIF',
    usage: 'diffuse animate --checkpoint DIR|NAME --out FILE.gif [--n 16] [--sampler S] [--steps S]',
    flags: [
      ...SAMPLING_FLAGS,
      { key: 'n', type: 'int', min: 1, max: 256, help: 'images in the grid', defaultText: '16', group: 'Output' },
      { key: 'frames', type: 'int', min: 2, max: 1000, help: 'frames (sampler steps are subsampled)', defaultText: '40' },
      { key: 'fps', type: 'float', min: 0.1, max: 100, help: 'frames per second', defaultText: '12' },
      { key: 'scale', type: 'int', min: 1, max: 16, help: 'pixel upscaling of each frame', defaultText: '2' },
      { key: 'out', type: 'string', help: 'output .gif file' },
      THREADS_FLAG,
      PRECISION_FLAG,
      DEVICE_FLAG,
    ],
  },
  async run(args) {
    const f = args.flags;
    const device = applyMachineFlags(f);
    if (f.checkpoint === undefined || f.out === undefined) throw new UsageError("'diffuse animate' needs --checkpoint and --out FILE.gif");
    const out = f.out as string;
    if (!out.toLowerCase().endsWith('.gif')) throw new UsageError(`--out ${out}: give a path ending in .gif`);
    const choice = samplerChoice(f);
    const pipe = loadSamplingPipeline(f, device, { command: 'diffuse animate' });
    checkClamp(pipe, choice);
    const n = (f.n as number | undefined) ?? 16;
    const scale = (f.scale as number | undefined) ?? 2;
    const { imageSize: size, channels } = imageShapeOf(pipe);
    const frames: RawImage[] = [];
    for (const fr of generateFrames(pipe, {
      n,
      ...choice,
      guidance: f.guidance as number | undefined,
      classes: f.class as number[] | undefined,
      seed: (f.seed as number | undefined) ?? 0,
      frames: (f.frames as number | undefined) ?? 40,
    })) {
      frames.push(upscale(makeGrid({ data: fr.images, n, height: size, width: size, channels }, { nrow: Math.ceil(Math.sqrt(n)) }), scale));
    }
    const fps = (f.fps as number | undefined) ?? 12;
    // The final frame lingers two seconds so the result can be seen.
    await writeGif(out, frames, { delayMs: Math.round(1000 / fps), lastDelayMs: 2000 });
    console.log(`${frames.length} frames → ${path.resolve(out)}`);
    return 0;
  },
};
