// Image files to pixels: sharp (libvips) decodes, our PIL port resizes. Imported by worker
// threads too, so it must not import the torch engine.
import sharp from 'sharp';
import { DataError, firstLine } from '../io/errors.js';
import type { RawImage } from '../io/raw-image.js';
import type { DecodeJob } from './dataset.js';
import { centerResize, toChannels, toFloatCHW } from './transforms.js';

/**
 * Decodes an image file to 8-bit RGB. Every format sharp reads works (PNG, JPEG, WebP, GIF's first
 * frame, TIFF, ...); gray, palette and 16-bit images come out as 8-bit RGB, and alpha is composited
 * on black (c·α/255). EXIF orientation is ignored, as PIL does.
 * @param path the file.
 * @returns the pixels, HWC with 3 channels.
 * @throws DataError naming the file when it is missing, truncated, corrupt or not an image.
 */
export async function decodeImage(path: string): Promise<RawImage> {
  try {
    const { data, info } = await sharp(path, { failOn: 'warning' })
      .flatten({ background: { r: 0, g: 0, b: 0 } })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: 3 };
  } catch (err) {
    const why = firstLine(err);
    if (/^Input file is missing/.test(why)) throw new DataError(`${path}: file not found; was it moved while loading?`, path);
    // failOn: 'warning' hides libvips's warning behind this text; what it flags is damaged data.
    const said = /failOn setting/.test(why) ? 'truncated or damaged image data' : why;
    throw new DataError(`${path}: cannot decode image (${said}); the file is damaged, truncated or not an image: remove or replace the file`, path);
  }
}

/**
 * Reads an image's stored width and height from its header, without decoding the pixels.
 * @param path the file.
 * @throws DataError naming the file when it is not a readable image.
 */
export async function readImageDims(path: string): Promise<{ width: number; height: number }> {
  try {
    const { width, height } = await sharp(path).metadata();
    if (!width || !height) throw new Error('no size in its header');
    return { width, height };
  } catch (err) {
    throw new DataError(`${path}: cannot read the image size (${firstLine(err)}); remove or replace the file`, path);
  }
}

/**
 * Runs a decode job: decode, convert channels, improved-diffusion's resize and centre crop,
 * scale to [-1, 1].
 * @param job the file, output size (or bucket shape) and channels.
 * @returns C·H·W floats in [-1, 1].
 */
export async function runDecodeJob(job: DecodeJob): Promise<Float32Array> {
  const rgb = await decodeImage(job.path);
  return toFloatCHW(centerResize(toChannels(rgb, job.channels), job.shape?.height ?? job.size, job.shape?.width ?? job.size));
}
