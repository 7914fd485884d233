#!/usr/bin/env node
// The pictures of docs/editing.md (not a test): each editing tool on 8 held-out digits with the
// shipped digits-cpu model (float32), as grids upscaled 3×, written to docs/editing/.
//
//   node bench/edit-pictures.mjs
import { mkdirSync } from 'node:fs';
import * as torch from '@diffuse/torch';
import {
  CrossFrameAttnProcessor, digitsTensors, inpaint, interpolate, invert, loadPipeline, makeGrid, reconstruct, sdedit, withAttnProcessors, writePng,
} from 'diffuse';
import { rawBatch, upscale } from '../packages/diffuse/dist/src/cli/edit-io.js';

const OUT = new URL('../docs/editing/', import.meta.url).pathname;
mkdirSync(OUT, { recursive: true });
const pipe = loadPipeline('digits-cpu', { precision: 'fp32' });
const spec = pipe.spec;
const x = digitsTensors(9000, 9008).x; // (8, 1, 28, 28)
const gen = (seed) => new torch.Generator({ seed });

/** Rows of 8 images each (N, 1, 28, 28) → one PNG, 3× nearest-neighbour. */
async function picture(name, rows) {
  const all = torch.cat(rows);
  await writePng(`${OUT}${name}`, upscale(makeGrid(rawBatch(all), { nrow: rows[0].size(0) }), 3));
  console.log(`${OUT}${name}`);
}

// SDEdit: the inputs, then strengths 0.3, 0.5, 0.7, 0.9 (DDIM 20 steps from t₀).
await picture('sdedit.png', [x, ...[0.3, 0.5, 0.7, 0.9].map((strength) => sdedit(spec, x, { sampler: 'ddim', steps: 20, strength, generator: gen(0) }))]);

// Frames: a digit moving 1 px a frame; SDEdit 0.6 with shared noise, self vs cross-frame attention.
const frames = torch.cat(Array.from({ length: 8 }, (_, f) => x.narrow(0, 5, 1).roll([f - 4], [3])));
const noise = torch.randn([1, 1, 28, 28], { generator: gen(1) }).expand([8, 1, 28, 28]).contiguous();
const edit = () => sdedit(spec, frames, { sampler: 'ddim', steps: 20, strength: 0.6, noise, generator: gen(2) });
await picture('frames.png', [frames, edit(), withAttnProcessors(pipe.model, { 'middle_block.1': new CrossFrameAttnProcessor(8) }, edit)]);

// Inpainting a 12×12 centre hole: input, masked input, replacement (DDIM 50), RePaint (DDPM 50, r = 5, j = 10).
const mask = torch.zeros([1, 1, 28, 28]);
mask.narrow(2, 8, 12).narrow(3, 8, 12).fill_(1);
await picture('inpaint.png', [
  x, x.mul(mask.rsub(1)),
  inpaint(spec, x, { sampler: 'ddim', steps: 50, mask, generator: gen(3) }),
  inpaint(spec, x, { sampler: 'ddpm', steps: 50, mask, resample: { jumpLength: 10, resamples: 5 }, generator: gen(3) }),
]);

// Inversion: inputs, the reconstructions from DDIM-20 and DDIM-100 inversions over the whole
// schedule, and from DDIM-20 below σ_max = 2.
const roundTrip = (o) => reconstruct(spec, invert(spec, x, o), o);
await picture('invert.png', [x, roundTrip({ steps: 20 }), roundTrip({ steps: 100 }), roundTrip({ steps: 20, sigmaMax: 2 })]);

// Interpolation between two digits (10 images, DDIM 50): slerp alone, then with attention interpolation.
const [a, b] = [x.narrow(0, 0, 1), x.narrow(0, 1, 1)];
await picture('interpolate.png', [interpolate(spec, a, b, { n: 10, steps: 50 }), interpolate(spec, a, b, { n: 10, steps: 50, attention: pipe.model })]);
