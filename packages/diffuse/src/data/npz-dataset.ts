// Images from an .npz file: arr_0 = images, optional arr_1 = integer class labels
// (the layout improved-diffusion's image_sample.py writes and the openai evaluator reads).
import { DataError } from '../io/errors.js';
import type { NpyArray } from '../io/npy.js';
import { readNpzSync } from '../io/npz.js';
import { F32ArrayDataset, U8ArrayDataset } from './array-dataset.js';
import type { ImageDataset } from './dataset.js';

export interface NpzDatasetOptions {
  /** Output side; default the stored side (uint8 images of another size are resized and centre-cropped). */
  size?: number;
  /** Output channels 1 or 3; default the stored channels (uint8 images are converted). */
  channels?: number;
}

function shapeText(a: NpyArray): string {
  return `(${a.shape.join(', ')}) ${a.dtype}`;
}

function readLabels(file: string, arr: NpyArray, n: number): Int32Array {
  if (arr.shape.length !== 1 || arr.shape[0] !== n || !['uint8', 'int32', 'int64'].includes(arr.dtype)) {
    throw new DataError(`${file}: arr_1 (labels) is ${shapeText(arr)}; expected (${n},) integers, one class per image`, file);
  }
  const labels = Int32Array.from(arr.data as ArrayLike<number | bigint>, Number);
  const bad = labels.findIndex((v) => v < 0);
  if (bad >= 0) throw new DataError(`${file}: arr_1[${bad}] = ${labels[bad]}; class labels must be ≥ 0`, file);
  return labels;
}

// float images: check they are in [-1, 1] (a little slack for rounding) so pixel-range mistakes
// (0..255 floats, [0, 1]) are caught here and not as a strange training run.
function checkRange(file: string, data: Float32Array): void {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(lo >= -1.001 && hi <= 1.001)) {
    throw new DataError(`${file}: float images range over [${lo}, ${hi}]; expected [-1, 1] (save uint8 0..255 NHWC, or scale with x / 127.5 - 1)`, file);
  }
}

/**
 * Loads an .npz of images. arr_0 is either uint8 (N, H, W, C) or (N, H, W) — pixels 0..255, as
 * image_sample.py saves — or float32/float64 (N, C, H, W) already in [-1, 1]; C is 1 or 3.
 * arr_1, when present, holds one integer class label per image.
 * @param file the .npz path.
 * @param options output size and channels.
 * @returns an in-memory dataset.
 * @throws DataError naming the file for a missing arr_0 or a wrong dtype, shape or range.
 */
export function loadNpzDataset(file: string, options: NpzDatasetOptions = {}): ImageDataset {
  const arrays = readNpzSync(file);
  const images = arrays.get('arr_0');
  if (!images) {
    const keys = [...arrays.keys()].join(', ') || 'none';
    throw new DataError(`${file}: no arr_0 array (found: ${keys}); save images with numpy.savez(path, images, labels)`, file);
  }
  const shape = images.shape;
  const n = shape[0] ?? 0;
  if (n === 0) throw new DataError(`${file}: arr_0 holds no images (shape ${shapeText(images)})`, file);
  const labelArr = arrays.get('arr_1');
  const labels = labelArr ? readLabels(file, labelArr, n) : undefined;
  if (images.dtype === 'uint8') {
    const nhwc = shape.length === 3 ? [...shape, 1] : shape;
    const c = nhwc[3]!;
    if (nhwc.length !== 4 || (c !== 1 && c !== 3)) {
      throw new DataError(`${file}: arr_0 is ${shapeText(images)}; expected uint8 (N, H, W, C) with C = 1 or 3, or (N, H, W)`, file);
    }
    const [, h, w] = nhwc as [number, number, number, number];
    if (options.size === undefined && h !== w) {
      throw new DataError(`${file}: images are ${h}×${w}, not square; pass a size to resize and centre-crop them`, file);
    }
    return new U8ArrayDataset({ images: images.data as Uint8Array, n, height: h, width: w, channels: c, labels, size: options.size, outChannels: options.channels });
  }
  if (images.dtype === 'float32' || images.dtype === 'float64') {
    const [, c, h, w] = shape as [number, number, number, number];
    if (shape.length !== 4 || (c !== 1 && c !== 3) || h !== w) {
      throw new DataError(`${file}: arr_0 is ${shapeText(images)}; float images must be (N, C, H, W) with C = 1 or 3 and H = W`, file);
    }
    if ((options.size ?? h) !== h || (options.channels ?? c) !== c) {
      throw new DataError(`${file}: float images are ${c}×${h}×${w}; only uint8 images can be resized or change channels (asked ${options.channels ?? c}×${options.size ?? h})`, file);
    }
    const data = images.data instanceof Float32Array ? images.data : Float32Array.from(images.data as Float64Array);
    checkRange(file, data);
    return new F32ArrayDataset({ images: data, n, channels: c, size: h, labels });
  }
  throw new DataError(`${file}: arr_0 has dtype ${images.dtype}; images must be uint8 (0..255, NHWC) or float32/float64 in [-1, 1] (NCHW)`, file);
}
