// In-memory datasets: uint8 NHWC images (bundled digits, npz) and float NCHW images in [-1, 1].
import type { ImageDataset, Sample } from './dataset.js';
import { centerResize, toChannels, toFloatCHW } from './transforms.js';

export interface U8ArrayOptions {
  /** N·H·W·C bytes (NHWC). */
  images: Uint8Array;
  n: number;
  height: number;
  width: number;
  /** Channels stored: 1 or 3. */
  channels: number;
  /** Per-image class, or undefined for unlabeled images. */
  labels?: Int32Array;
  /** Classes (default: max label + 1, or 0 without labels). */
  numClasses?: number;
  /** Output side; default the stored height (images must then be square). */
  size?: number;
  /** Output channels, 1 or 3; default the stored channels. */
  outChannels?: number;
}

function checkLabels(labels: Int32Array | undefined, n: number, numClasses: number | undefined): number {
  if (!labels) return 0;
  if (labels.length !== n) throw new RangeError(`labels: ${labels.length} labels for ${n} images`);
  const max = labels.reduce((m, v) => Math.max(m, v), -1);
  const k = numClasses ?? max + 1;
  if (labels.some((v) => v < 0 || v >= k)) throw new RangeError(`labels: values must lie in [0, ${k})`);
  return k;
}

/**
 * uint8 images in memory, converted on get(): channel conversion, then improved-diffusion's
 * resize and centre crop when the stored size is not size×size, then x / 127.5 - 1.
 */
export class U8ArrayDataset implements ImageDataset {
  readonly length: number;
  readonly numClasses: number;
  readonly channels: number;
  readonly size: number;
  private readonly o: U8ArrayOptions;

  /** @param options the images, their layout, labels and the output size/channels. */
  constructor(options: U8ArrayOptions) {
    const { images, n, height, width, channels } = options;
    if (images.length !== n * height * width * channels) {
      throw new RangeError(`U8ArrayDataset: ${images.length} bytes for ${n}×${height}×${width}×${channels}`);
    }
    if (channels !== 1 && channels !== 3) throw new RangeError(`U8ArrayDataset: stored channels must be 1 or 3, got ${channels}`);
    this.o = options;
    this.length = n;
    this.numClasses = checkLabels(options.labels, n, options.numClasses);
    this.channels = options.outChannels ?? channels;
    if (this.channels !== 1 && this.channels !== 3) throw new RangeError(`U8ArrayDataset: channels must be 1 or 3, got ${this.channels}`);
    this.size = options.size ?? height;
    if (options.size === undefined && height !== width) {
      throw new RangeError(`U8ArrayDataset: images are ${height}×${width}; give a size to resize and centre-crop them`);
    }
  }

  get(i: number): Sample {
    if (!(i >= 0 && i < this.length)) throw new RangeError(`U8ArrayDataset: index ${i} out of range [0, ${this.length})`);
    const { images, height, width, channels, labels } = this.o;
    const frame = height * width * channels;
    let img = toChannels({ data: images.subarray(i * frame, (i + 1) * frame), width, height, channels }, this.channels);
    if (img.width !== this.size || img.height !== this.size) img = centerResize(img, this.size);
    return { image: toFloatCHW(img), label: labels ? labels[i]! : -1 };
  }
}

export interface F32ArrayOptions {
  /** N·C·H·W floats in [-1, 1] (NCHW). */
  images: Float32Array;
  n: number;
  channels: number;
  size: number;
  labels?: Int32Array;
  numClasses?: number;
}

/** float images already in [-1, 1], NCHW; get() copies one out. */
export class F32ArrayDataset implements ImageDataset {
  readonly length: number;
  readonly numClasses: number;
  readonly channels: number;
  readonly size: number;
  private readonly o: F32ArrayOptions;

  /** @param options the images, their layout and labels. */
  constructor(options: F32ArrayOptions) {
    const { images, n, channels, size } = options;
    if (images.length !== n * channels * size * size) {
      throw new RangeError(`F32ArrayDataset: ${images.length} floats for ${n}×${channels}×${size}×${size}`);
    }
    this.o = options;
    this.length = n;
    this.channels = channels;
    this.size = size;
    this.numClasses = checkLabels(options.labels, n, options.numClasses);
  }

  get(i: number): Sample {
    if (!(i >= 0 && i < this.length)) throw new RangeError(`F32ArrayDataset: index ${i} out of range [0, ${this.length})`);
    const frame = this.channels * this.size * this.size;
    return { image: this.o.images.slice(i * frame, (i + 1) * frame), label: this.o.labels ? this.o.labels[i]! : -1 };
  }
}
