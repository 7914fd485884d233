// A folder of image files, listed and labelled as improved-diffusion's load_data does.
import { readdirSync, statSync } from 'node:fs';
import { basename, extname, join, relative, sep } from 'node:path';
import { DataError } from '../io/errors.js';
import type { AsyncImageDataset, DecodeJob, Sample } from './dataset.js';
import { readImageDims, runDecodeJob } from './decode.js';
import { limiter } from './limit.js';

/** File extensions listed (case-insensitive); improved-diffusion lists jpg, jpeg, png and gif. */
export const IMAGE_EXTENSIONS: readonly string[] = ['png', 'jpg', 'jpeg', 'webp', 'gif', 'tif', 'tiff'];

/** Where class labels come from. */
export enum ClassSource {
  /** No labels (unconditional training). */
  NONE = 'none',
  /** The file name before its first '_' ("cat_001.png" is class "cat"), as improved-diffusion. */
  PREFIX = 'prefix',
  /** The first sub-folder under the root ("cat/001.png" is class "cat"), as torchvision's ImageFolder. */
  FOLDER = 'folder',
}

/** The files found under a folder. */
export interface ImageListing {
  /** Image files, in improved-diffusion's order: sorted names, depth first. */
  files: string[];
  /** Files skipped because their extension is not an image one (hidden files included). */
  skipped: number;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory(); // follows symlinks, as blobfile's isdir
  } catch {
    return false;
  }
}

/**
 * Lists image files recursively as improved-diffusion's _list_image_files_recursively: entries
 * sorted by name, a file counts when its extension is an image one, folders are descended into.
 * Unlike it, hidden entries (names starting with '.') are skipped and a folder whose name ends in
 * an image extension is descended into, not listed.
 * @param root the folder.
 * @param extensions extensions to accept (lower case, no dot).
 * @returns the files and how many non-image files were skipped.
 * @throws DataError when root is missing or not a folder.
 */
export function listImageFiles(root: string, extensions: readonly string[] = IMAGE_EXTENSIONS): ImageListing {
  if (!isDir(root)) {
    let exists = true;
    try {
      statSync(root);
    } catch {
      exists = false;
    }
    throw new DataError(exists ? `${root}: is a file, expected a folder of images` : `${root}: no such folder; check the data path`, root);
  }
  const files: string[] = [];
  let skipped = 0;
  const walk = (dir: string): void => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const { name } = entry;
      const full = join(dir, name);
      // Symlinks are followed (one stat each), as blobfile does.
      const folder = entry.isDirectory() || (entry.isSymbolicLink() && isDir(full));
      if (name.startsWith('.')) skipped++;
      else if (folder) walk(full);
      else if (extensions.includes(extname(name).slice(1).toLowerCase())) files.push(full);
      else skipped++;
    }
  };
  walk(root);
  return { files, skipped };
}

/**
 * Class names and indices for files: names sorted, index = position in that order.
 * @param root the dataset folder (for FOLDER).
 * @param files the image files.
 * @param source PREFIX or FOLDER.
 * @returns the sorted class names and each file's class index.
 */
export function classLabels(root: string, files: string[], source: ClassSource.PREFIX | ClassSource.FOLDER): { classNames: string[]; labels: Int32Array } {
  const names = files.map((f) => {
    if (source === ClassSource.PREFIX) return basename(f).split('_')[0]!;
    const parts = relative(root, f).split(sep);
    if (parts.length < 2) throw new DataError(`${f}: not inside a class folder; with folder labels every image must be in ROOT/<class>/`, f);
    return parts[0]!;
  });
  const classNames = [...new Set(names)].sort();
  const index = new Map(classNames.map((n, i) => [n, i]));
  return { classNames, labels: Int32Array.from(names, (n) => index.get(n)!) };
}

export interface ImageFolderOptions {
  /** Images come out size×size (improved-diffusion's resize + centre crop). */
  size: number;
  /** 1 (gray, PIL's "L" weights) or 3 (RGB); default 3. */
  channels?: number;
  /** Where labels come from; default NONE. */
  classes?: ClassSource;
}

/**
 * Image files under a folder (recursively), decoded on demand. Files that are not images by
 * extension are skipped (counted in `skipped`); an image file that cannot be decoded raises a
 * DataError naming it when it is loaded. Images smaller than `size` are upsampled (bicubic).
 */
export class ImageFolderDataset implements AsyncImageDataset {
  readonly files: string[];
  readonly labels: Int32Array | undefined;
  readonly classNames: string[];
  readonly skipped: number;
  readonly size: number;
  readonly channels: number;

  /**
   * @param root the folder.
   * @param options size, channels, where class labels come from.
   * @throws DataError when the folder is missing or holds no images.
   */
  constructor(readonly root: string, options: ImageFolderOptions) {
    const { size, channels = 3, classes = ClassSource.NONE } = options;
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`ImageFolderDataset: size must be a positive integer, got ${size}`);
    if (channels !== 1 && channels !== 3) throw new RangeError(`ImageFolderDataset: channels must be 1 or 3, got ${channels}`);
    const { files, skipped } = listImageFiles(root);
    if (files.length === 0) {
      throw new DataError(`${root}: no images found (looked for ${IMAGE_EXTENSIONS.join('/')} files, recursively); point at the folder that holds them`, root);
    }
    this.files = files;
    this.skipped = skipped;
    this.size = size;
    this.channels = channels;
    if (classes === ClassSource.NONE) {
      this.labels = undefined;
      this.classNames = [];
    } else {
      const { classNames, labels } = classLabels(root, files, classes);
      this.labels = labels;
      this.classNames = classNames;
    }
  }

  get length(): number {
    return this.files.length;
  }

  get numClasses(): number {
    return this.classNames.length;
  }

  label(i: number): number {
    return this.labels ? this.labels[i]! : -1;
  }

  decodeJob(i: number, shape?: { height: number; width: number }): DecodeJob {
    const path = this.files[i];
    if (path === undefined) throw new RangeError(`ImageFolderDataset: index ${i} out of range [0, ${this.length})`);
    return { path, size: this.size, channels: this.channels, ...(shape !== undefined ? { shape } : {}) };
  }

  /** Every file's width and height, read from the headers (a few files at a time). */
  async imageDims(): Promise<{ width: number; height: number }[]> {
    const run = limiter(8);
    return Promise.all(this.files.map((f) => run(() => readImageDims(f))));
  }

  async getAsync(i: number, shape?: { height: number; width: number }): Promise<Sample> {
    return { image: await runDecodeJob(this.decodeJob(i, shape)), label: this.label(i) };
  }
}
