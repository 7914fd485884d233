// The dataset interfaces every image source implements (in-memory and file-backed).

/** One training example: an image in [-1, 1] and its class. */
export interface Sample {
  /** C·H·W floats in [-1, 1] (CHW order). */
  image: Float32Array;
  /** Class index in [0, numClasses), or -1 for an unlabeled dataset. */
  label: number;
}

/** What every dataset tells about its images. */
export interface DatasetInfo {
  /** Number of images. */
  readonly length: number;
  /** Number of classes; 0 when the images carry no labels (then every label is -1). */
  readonly numClasses: number;
  /** Channels per image: 1 (gray) or 3 (RGB). */
  readonly channels: number;
  /** Images are size×size. */
  readonly size: number;
  /** Clips: frames T per sample, whose image is then C·T·H·W values (CTHW); absent for images. */
  readonly frames?: number;
}

/** A dataset whose images are in memory: get() is synchronous and cheap. */
export interface ImageDataset extends DatasetInfo {
  /**
   * @param i index in [0, length).
   * @returns the i-th image and label (a fresh array the caller may modify).
   */
  get(i: number): Sample;
}

/** A job a worker thread can run to produce a sample's image (plain data, structured-cloneable). */
export interface DecodeJob {
  /** The image file. */
  path: string;
  /** Output side (improved-diffusion's resize + centre crop). */
  size: number;
  /** Output channels, 1 or 3. */
  channels: number;
  /** Output height × width instead of size×size (an aspect-ratio bucket, data/buckets.ts). */
  shape?: { height: number; width: number };
}

/** A dataset whose images are decoded from files: getAsync() decodes on demand. */
export interface AsyncImageDataset extends DatasetInfo {
  /**
   * @param i index in [0, length).
   * @returns the i-th image and label, decoded on this thread (sharp itself runs off-thread).
   */
  /**
   * Decodes the i-th image.
   * @param shape the output height × width when it is not size×size (a bucket).
   */
  getAsync(i: number, shape?: { height: number; width: number }): Promise<Sample>;
  /** The i-th label without decoding anything. */
  label(i: number): number;
  /**
   * The decode job for the i-th image, so a worker pool can produce the same image.
   * @param shape the output height × width when it is not size×size (a bucket).
   */
  decodeJob(i: number, shape?: { height: number; width: number }): DecodeJob;
  /** Every image's stored width and height (file headers only), for bucketing by aspect ratio. */
  imageDims?(): Promise<{ width: number; height: number }[]>;
}

/** Any dataset the batch loader accepts. */
export type AnyImageDataset = ImageDataset | AsyncImageDataset;

/** True for file-backed datasets (those with getAsync). */
export function isAsyncDataset(d: AnyImageDataset): d is AsyncImageDataset {
  return typeof (d as AsyncImageDataset).getAsync === 'function';
}
