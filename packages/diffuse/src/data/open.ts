// One entry point from a user's data argument to a dataset: 'mnist', an .npz file, or a folder.
import { existsSync, statSync } from 'node:fs';

import { DataError } from '../io/errors.js';
import type { AnyImageDataset } from './dataset.js';
import { ClassSource, ImageFolderDataset } from './image-folder.js';
import { mnistDataset } from './mnist.js';
import { MOVING_DIGITS, MovingDigitsDataset } from './moving-digits.js';
import { loadNpzDataset } from './npz-dataset.js';

export interface OpenDatasetOptions {
  /** Output side in pixels. */
  size: number;
  /** 1 or 3. */
  channels: number;
  /** Where folder labels come from (default: filename prefixes, as improved-diffusion). */
  classes?: ClassSource;
  /** Use at most this many images (mnist only; its order interleaves the classes). */
  limit?: number;
  /** 'moving-digits': frames per clip (default 8) and digits per clip (default 1). */
  frames?: number;
  clipDigits?: number;
}

/**
 * Opens the dataset a user named.
 * @param spec 'mnist' (the bundled 10,000 digits), 'moving-digits' (clips made from them), a path to an .npz (arr_0 images, optional
 *   arr_1 labels), or an image folder (searched recursively).
 * @throws DataError with one line naming the path and the fix.
 */
export function openDataset(spec: string, options: OpenDatasetOptions): AnyImageDataset {
  if (spec === 'mnist') return mnistDataset({ size: options.size, channels: options.channels, limit: options.limit });
  if (spec === MOVING_DIGITS) {
    try {
      return new MovingDigitsDataset({ size: options.size, channels: options.channels, frames: options.frames, digits: options.clipDigits });
    } catch (e) {
      if (e instanceof RangeError) throw new DataError(e.message, spec);
      throw e;
    }
  }
  if (!existsSync(spec)) {
    throw new DataError(`${spec}: no such file or folder (use 'mnist', 'moving-digits', an image folder, or an .npz file)`, spec);
  }
  if (statSync(spec).isDirectory()) {
    return new ImageFolderDataset(spec, { size: options.size, channels: options.channels, classes: options.classes ?? ClassSource.PREFIX });
  }
  if (spec.toLowerCase().endsWith('.npz')) return loadNpzDataset(spec, { size: options.size, channels: options.channels });
  throw new DataError(`${spec}: not an image folder or an .npz file (use 'mnist', a folder of images, or an .npz)`, spec);
}
