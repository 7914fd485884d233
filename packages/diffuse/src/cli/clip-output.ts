// What `diffuse sample` writes for a clip model: an animated GIF per clip, a grid whose rows are
// the clips' frames, and samples.npz of every frame.
import { mkdirSync } from 'node:fs';
import path from 'node:path';

import { writeFolderAtomic } from '../io/atomic.js';
import { writeGif } from '../io/gif.js';
import { makeGrid } from '../io/grid.js';
import { writeNpz } from '../io/npz.js';
import { writePng } from '../io/png.js';
import type { GeneratedImages } from '../pipeline/generate.js';
import type { Pipeline } from '../pipeline/load.js';

/** Milliseconds per GIF frame: 8 frames play in 0.8 s, a pause of one more frame before the loop. */
const FRAME_MS = 100;

/**
 * Writes sampled clips into `out`, all at once (a temporary folder swapped in: never half-written):
 * clips/NNNNNN.gif (looping), grid.png (a row of frames per clip) and samples.npz with arr_0
 * uint8 (N, T, H, W, C) — the image samples' (N, H, W, C) with the frames after the clip index —
 * and arr_1 int64 labels for a class-conditional model.
 * @param out the output folder.
 * @param clips the generated clips (frames T > 1 or a clip model's).
 */
export async function writeClips(out: string, clips: GeneratedImages): Promise<void> {
  const { n, frames: t, height: h, width: w, channels, images } = clips;
  const frame = h * w * channels;
  await writeFolderAtomic(out, async (tmp) => {
    mkdirSync(path.join(tmp, 'clips'));
    await writePng(path.join(tmp, 'grid.png'), makeGrid({ data: images, n: n * t, height: h, width: w, channels }, { nrow: t }));
    for (let i = 0; i < n; i++) {
      const at = (f: number) => images.subarray((i * t + f) * frame, (i * t + f + 1) * frame);
      const gifFrames = Array.from({ length: t }, (_, f) => ({ data: at(f), width: w, height: h, channels }));
      await writeGif(path.join(tmp, 'clips', `${String(i).padStart(6, '0')}.gif`), gifFrames, { delayMs: FRAME_MS, lastDelayMs: FRAME_MS });
    }
    const arrays: Parameters<typeof writeNpz>[1] = { arr_0: { dtype: 'uint8', shape: [n, t, h, w, channels], data: images } };
    if (clips.labels) arrays.arr_1 = { dtype: 'int64', shape: [n], data: clips.labels };
    await writeNpz(path.join(tmp, 'samples.npz'), arrays);
  });
}

/**
 * Prints what writeClips wrote and how fast the clips came.
 * @param out the folder; @param clips the clips; @param secs the sampling time; @param pipe the model's pipeline.
 */
export function reportClips(out: string, clips: GeneratedImages, secs: number, pipe: Pipeline): void {
  const { n, frames: t, height: h, width: w, channels } = clips;
  console.log(`${n} clips of ${t} frames in ${secs.toFixed(1)} s (${(n / secs).toFixed(2)} clips/s) from ${pipe.dir}${pipe.emaRate !== null ? ` (EMA ${pipe.emaRate})` : ''}`);
  console.log(`grid:    ${path.join(out, 'grid.png')} (a row of frames per clip)`);
  console.log(`clips:   ${path.join(out, 'clips')}/ (an animated GIF each)`);
  console.log(`arrays:  ${path.join(out, 'samples.npz')} (arr_0 uint8 ${n}×${t}×${h}×${w}×${channels}${clips.labels ? ', arr_1 labels' : ''})`);
}
