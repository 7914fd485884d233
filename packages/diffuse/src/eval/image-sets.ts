// The image sets the evaluation commands accept — the bundled digits (whole, or the feature
// network's train / held-out split), an .npz of samples, or an image folder — opened in the
// format a feature network takes, plus an identity for caching their features.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import type { AnyImageDataset } from '../data/dataset.js';
import { decodeImage } from '../data/decode.js';
import { listImageFiles } from '../data/image-folder.js';
import { loadMnistDigits, MNIST_SIZE } from '../data/mnist.js';
import { loadNpzDataset } from '../data/npz-dataset.js';
import { openDataset } from '../data/open.js';
import { U8ArrayDataset } from '../data/array-dataset.js';
import { DataError } from '../io/errors.js';
import { TRAIN_DIGITS } from './features/digits-train.js';

/** The bundled digits by name: [first, end) indices. */
export const DIGIT_SETS: Record<string, [number, number]> = {
  /** All 10,000 (what `diffuse train --data mnist` trains on). */
  mnist: [0, 10000],
  /** The 8,000 the digits feature network was trained on. */
  'mnist:train': [0, TRAIN_DIGITS],
  /** The 2,000 it never saw. */
  'mnist:test': [TRAIN_DIGITS, 10000],
};

/** How a feature network wants its images. */
export interface ImageFormat {
  /** Output side; null keeps the images' own size. */
  size: number | null;
  channels: 1 | 3;
}

function digitSet(name: string, format: ImageFormat): AnyImageDataset {
  const [from, to] = DIGIT_SETS[name]!;
  const all = loadMnistDigits();
  const px = MNIST_SIZE * MNIST_SIZE;
  return new U8ArrayDataset({
    images: all.images.subarray(from * px, to * px),
    n: to - from,
    height: MNIST_SIZE,
    width: MNIST_SIZE,
    channels: 1,
    labels: all.labels.subarray(from, to),
    numClasses: 10,
    size: format.size ?? MNIST_SIZE,
    outChannels: format.channels,
  });
}

/** The side of a folder's first image (its shorter side: the centre crop keeps a square of it). */
async function firstImageSide(folder: string): Promise<number> {
  const { files } = listImageFiles(folder);
  if (files.length === 0) throw new DataError(`${folder}: no images found; point at the folder that holds them`, folder);
  const img = await decodeImage(files[0]!);
  return Math.min(img.width, img.height);
}

/**
 * What kind of image set a spec names.
 * @throws DataError when it names nothing usable (a missing path, a file that is not an .npz).
 */
export function imageSetKind(spec: string): 'digits' | 'folder' | 'npz' {
  if (spec in DIGIT_SETS) return 'digits';
  let isDir: boolean;
  try {
    isDir = statSync(spec).isDirectory();
  } catch {
    throw new DataError(`${spec}: no such file or folder (use ${Object.keys(DIGIT_SETS).join(', ')}, an .npz of samples, or an image folder)`, spec);
  }
  if (isDir) return 'folder';
  if (spec.toLowerCase().endsWith('.npz')) return 'npz';
  throw new DataError(`${spec}: not an .npz file or an image folder (use ${Object.keys(DIGIT_SETS).join(', ')}, an .npz of samples, or an image folder)`, spec);
}

/**
 * Opens an image set in a feature network's format (channels converted, images resized and
 * centre-cropped as improved-diffusion's data loader when the size differs).
 * @param spec 'mnist', 'mnist:train', 'mnist:test', an .npz (arr_0 uint8 N×H×W×C), or a folder.
 * @param format the size (null: the set's own) and channels the network takes.
 * @throws DataError naming the path when it is missing or not images.
 */
export async function openImageSet(spec: string, format: ImageFormat): Promise<AnyImageDataset> {
  switch (imageSetKind(spec)) {
    case 'digits':
      return digitSet(spec, format);
    case 'npz':
      return format.size === null ? loadNpzDataset(spec, { channels: format.channels }) : openDataset(spec, { size: format.size, channels: format.channels });
    case 'folder':
      return openDataset(spec, { size: format.size ?? (await firstImageSide(spec)), channels: format.channels });
  }
}

/** The mnist package's version, part of the digits' identity. */
function mnistVersion(): string {
  const require = createRequire(import.meta.url);
  return (JSON.parse(readFileSync(require.resolve('mnist/package.json'), 'utf8')) as { version: string }).version;
}

/** Hash of a folder's image files: relative paths, sizes and modification times. */
function folderHash(folder: string): string {
  const h = createHash('sha256');
  for (const f of listImageFiles(folder).files) {
    const st = statSync(f);
    h.update(`${path.relative(folder, f)}\0${st.size}\0${st.mtimeMs}\n`);
  }
  return h.digest('hex');
}

/**
 * What a set's features depend on besides the network: the digit range and package version,
 * a file's bytes, or a folder's file list with sizes and times.
 * @param spec as openImageSet.
 * @returns a hex digest.
 */
export function imageSetIdentity(spec: string): string {
  const h = createHash('sha256');
  switch (imageSetKind(spec)) {
    case 'digits':
      h.update(`mnist@${mnistVersion()}:${DIGIT_SETS[spec]!.join('-')}`);
      break;
    case 'npz':
      h.update('npz:').update(readFileSync(spec));
      break;
    case 'folder':
      h.update(`folder:${folderHash(spec)}`);
      break;
  }
  return h.digest('hex');
}

/** True for a name of the bundled digits. */
export function isDigitSet(spec: string): boolean {
  return spec in DIGIT_SETS;
}
