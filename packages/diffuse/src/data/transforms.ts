// improved-diffusion's image preprocessing (image_datasets.py): resize, centre crop, scale to
// [-1, 1]; plus channel conversions and the horizontal flip used for augmentation.
import type { RawImage } from '../io/raw-image.js';
import { Filter, resample } from './resample.js';

/** Python 3's round(): halves go to the even neighbour (round(40.5) = 40). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * improved-diffusion's ImageDataset resize: halve with a BOX filter while the image is at least
 * twice the output on both sides (a hand-rolled PIL reducing_gap), then BICUBIC so it just covers
 * height×width with its aspect ratio kept, then crop the centre. For a square output this is
 * improved-diffusion's (short side = size); a rectangle (aspect-ratio buckets) crops the minimum.
 * Images smaller than the output are upsampled by the bicubic step, as in improved-diffusion.
 * @param img the source, HWC uint8 (any channel count; channels are resized independently).
 * @param height the output height.
 * @param width the output width (default: height, a square).
 * @returns a height×width image.
 */
export function centerResize(img: RawImage, height: number, width = height): RawImage {
  let cur = img;
  while (cur.width >= 2 * width && cur.height >= 2 * height) {
    cur = resample(cur, Math.floor(cur.width / 2), Math.floor(cur.height / 2), Filter.BOX);
  }
  const scale = Math.max(width / cur.width, height / cur.height);
  cur = resample(cur, Math.max(width, roundHalfEven(cur.width * scale)), Math.max(height, roundHalfEven(cur.height * scale)), Filter.BICUBIC);
  const cropY = Math.floor((cur.height - height) / 2);
  const cropX = Math.floor((cur.width - width) / 2);
  if (cropX === 0 && cropY === 0 && cur.width === width && cur.height === height) return cur;
  const c = cur.channels;
  const out = new Uint8Array(height * width * c);
  for (let y = 0; y < height; y++) {
    const from = ((cropY + y) * cur.width + cropX) * c;
    out.set(cur.data.subarray(from, from + width * c), y * width * c);
  }
  return { data: out, width, height, channels: c };
}

/**
 * RGB to gray with PIL's convert("L") weights (ITU-R 601-2 luma, 16-bit fixed point):
 * L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16.
 * @param img a 3-channel image.
 * @returns a 1-channel image.
 */
export function rgbToGray(img: RawImage): RawImage {
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const d = img.data;
  for (let i = 0; i < n; i++) out[i] = (d[3 * i]! * 19595 + d[3 * i + 1]! * 38470 + d[3 * i + 2]! * 7471 + 0x8000) >>> 16;
  return { data: out, width: img.width, height: img.height, channels: 1 };
}

/**
 * Gray to RGB by copying the one channel three times (PIL's convert("RGB") from "L").
 * @param img a 1-channel image.
 * @returns a 3-channel image.
 */
export function grayToRgb(img: RawImage): RawImage {
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = img.data[i]!;
  return { data: out, width: img.width, height: img.height, channels: 3 };
}

/**
 * Converts between 1 and 3 channels (no-op when they already match).
 * @param img a 1- or 3-channel image.
 * @param channels the channel count wanted.
 */
export function toChannels(img: RawImage, channels: number): RawImage {
  if (img.channels === channels) return img;
  if (img.channels === 3 && channels === 1) return rgbToGray(img);
  if (img.channels === 1 && channels === 3) return grayToRgb(img);
  throw new RangeError(`toChannels: cannot convert ${img.channels} channels to ${channels}`);
}

/**
 * HWC uint8 to CHW float32 in [-1, 1]: x / 127.5 - 1, computed in float32 as numpy does.
 * @param img the image.
 * @param out where to write (length C·H·W); a new array when omitted.
 */
export function toFloatCHW(img: RawImage, out = new Float32Array(img.data.length)): Float32Array {
  const { data, width, height, channels: c } = img;
  const hw = width * height;
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < hw; i++) out[ch * hw + i] = Math.fround(Math.fround(data[i * c + ch]! / 127.5) - 1);
  }
  return out;
}

/**
 * Mirrors CHW images left to right, in place.
 * @param chw the pixels, C·H·W floats.
 * @param channels C.
 * @param height H.
 * @param width W.
 */
export function hflipCHW(chw: Float32Array, channels: number, height: number, width: number): void {
  for (let r = 0; r < channels * height; r++) chw.subarray(r * width, (r + 1) * width).reverse();
}
