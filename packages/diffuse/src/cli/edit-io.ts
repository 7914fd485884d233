// Files in and out of the editing commands (edit, inpaint, invert, interpolate): images read at
// the model's size and channels, masks checked against their image, and outputs written into a
// temporary folder that replaces --out only when complete.
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { decodeImage } from '../data/decode.js';
import { listImageFiles } from '../data/image-folder.js';
import { centerResize, toChannels, toFloatCHW } from '../data/transforms.js';
import { writeFolderAtomic } from '../io/atomic.js';
import { writeGif } from '../io/gif.js';
import { makeGrid } from '../io/grid.js';
import { writePng } from '../io/png.js';
import type { RawImage } from '../io/raw-image.js';
import { toUint8NHWC } from '../pipeline/generate.js';
import { UsageError } from './args.js';

/** Images read for a model: (N, C, S, S) in [−1, 1], with their files. */
export interface InputImages {
  files: string[];
  /** (N, C, S, S) float32 in [−1, 1]. */
  x: Tensor;
}

/** The pixels of a file at the model's size and channels, as improved-diffusion's loader prepares them (centre crop and resize). */
async function readOne(file: string, size: number, channels: number): Promise<Float32Array> {
  return toFloatCHW(centerResize(toChannels(await decodeImage(file), channels), size));
}

/**
 * Reads an image, or every image of a folder in name order (the frames of a sequence).
 * @param input a file or folder; @param size the model's image size; @param channels its channels.
 * @param flag the flag that named it, for messages.
 * @throws UsageError for an empty folder; DataError for a missing or undecodable file.
 */
export async function readInputImages(input: string, size: number, channels: number, flag: string): Promise<InputImages> {
  if (!existsSync(input)) throw new UsageError(`${flag} ${input}: no such file or folder`);
  const files = statSync(input).isDirectory() ? listImageFiles(input).files : [input];
  if (files.length === 0) throw new UsageError(`${flag} ${input}: the folder has no images (png, jpg, webp, gif, tiff)`);
  const per = channels * size * size;
  const data = new Float32Array(files.length * per);
  for (const [i, f] of files.entries()) data.set(await readOne(f, size, channels), i * per);
  return { files, x: torch.tensor(data, { shape: [files.length, channels, size, size] }).keep() };
}

/**
 * Reads an inpainting mask: white (> 127 in gray) marks the region to generate, black the pixels
 * to keep (diffusers' convention). It must have its image's pixel size; it is then cropped and
 * resized as the image is.
 * @param file the mask; @param imageFile its image; @param size the model's image size.
 * @returns (1, 1, S, S) of 0 and 1.
 * @throws UsageError when the sizes differ or nothing is masked.
 */
export async function readMask(file: string, imageFile: string, size: number): Promise<Tensor> {
  if (!existsSync(file)) throw new UsageError(`--mask ${file}: no such file`);
  const [mask, image] = [await decodeImage(file), await decodeImage(imageFile)];
  if (mask.width !== image.width || mask.height !== image.height) {
    throw new UsageError(`--mask ${file} is ${mask.width}×${mask.height} but --input ${imageFile} is ${image.width}×${image.height}; give a mask of the image's size`);
  }
  const gray = centerResize(toChannels(mask, 1), size);
  const bits = Float32Array.from(gray.data, (v) => (v > 127 ? 1 : 0));
  if (!bits.some((b) => b === 1)) throw new UsageError(`--mask ${file}: no white pixels, so nothing to inpaint`);
  return torch.tensor(bits, { shape: [1, 1, size, size] }).keep();
}

/** Refuses an --out that holds something other than an earlier output of the same command. */
export function checkOut(out: string | undefined, command: string, marker: string): string {
  if (out === undefined) throw new UsageError(`'diffuse ${command}' needs --out DIR`);
  if (existsSync(out) && readdirSync(out).length > 0 && !existsSync(path.join(out, marker))) {
    throw new UsageError(`${out} exists and is not an earlier '${command}' output; choose another --out`);
  }
  return out;
}

/** The images as a batch for makeGrid and writePng: uint8 NHWC. */
export function rawBatch(x: Tensor): { data: Uint8Array; n: number; height: number; width: number; channels: number } {
  const [n, channels, height, width] = x.shape as [number, number, number, number];
  return { data: toUint8NHWC(x), n, height, width, channels };
}

/** One image of a batch. */
export function imageAt(batch: ReturnType<typeof rawBatch>, i: number): RawImage {
  const per = batch.height * batch.width * batch.channels;
  return { data: batch.data.subarray(i * per, (i + 1) * per), width: batch.width, height: batch.height, channels: batch.channels };
}

/** Nearest-neighbour upscaling by an integer factor (28-pixel digits are hard to see otherwise). */
export function upscale(img: RawImage, k: number): RawImage {
  if (k === 1) return img;
  const w = img.width * k;
  const h = img.height * k;
  const c = img.channels;
  const data = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const src = (Math.floor(y / k) * img.width + Math.floor(x / k)) * c;
      data.set(img.data.subarray(src, src + c), (y * w + x) * c);
    }
  }
  return { data, width: w, height: h, channels: c };
}

/** What an editing command writes. */
export interface EditOutputs {
  /** Output images, one PNG each as images/NNNNNN.png. */
  images: Tensor;
  /** grid.png: rows of images (e.g. inputs, masks, outputs), each (N, C, H, W). */
  gridRows: Tensor[];
  /** Also write a GIF of the images in order (frames, morphs) under this name. */
  gif?: string;
  /** Extra files: name → writer into the temporary folder. */
  extra?: Record<string, (file: string) => Promise<void>>;
}

/**
 * Writes an editing command's outputs into --out, all or nothing (a temporary folder renamed in).
 * @returns the paths written, for the command's summary.
 */
export async function writeEditOutputs(out: string, o: EditOutputs): Promise<string[]> {
  const written: string[] = [];
  await writeFolderAtomic(out, async (tmp) => {
    mkdirSync(path.join(tmp, 'images'));
    const batch = rawBatch(o.images);
    for (let i = 0; i < batch.n; i++) await writePng(path.join(tmp, 'images', `${String(i).padStart(6, '0')}.png`), imageAt(batch, i));
    written.push(path.join(out, 'images') + '/');
    const rows = torch.tidy(() => torch.cat(o.gridRows)); // (R·N, C, H, W)
    const grid = rawBatch(rows);
    rows.dispose();
    await writePng(path.join(tmp, 'grid.png'), makeGrid(grid, { nrow: o.gridRows[0]!.size(0) }));
    written.push(path.join(out, 'grid.png'));
    if (o.gif !== undefined) {
      const frames = Array.from({ length: batch.n }, (_, i) => upscale(imageAt(batch, i), 4));
      await writeGif(path.join(tmp, o.gif), frames, { delayMs: 125, lastDelayMs: 500 });
      written.push(path.join(out, o.gif));
    }
    for (const [name, write] of Object.entries(o.extra ?? {})) {
      await write(path.join(tmp, name));
      written.push(path.join(out, name));
    }
  });
  return written;
}
