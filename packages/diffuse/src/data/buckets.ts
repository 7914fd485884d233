// Aspect-ratio buckets for mixed-size training (`diffuse train --buckets`): the bucket sizes, the
// assignment of each image to the bucket of nearest aspect ratio, and the seeded batch sampler
// that draws every batch from one bucket. Bucketing keeps every batch a dense (B, C, H, W)
// tensor, so the models, the fused attention and the loss need no masks and no compute goes to
// padding (docs/dit.md). The torch engine is not imported: workers and tests use this file too.
import { epochPermutation, hash32 } from './shuffle.js';

/** One bucket's image size in pixels. */
export interface BucketSize {
  height: number;
  width: number;
}

/** Aspect ratios (width / height) `auto` makes buckets for: square, 4:3, 3:2 and 2:1 both ways. */
export const AUTO_ASPECTS: readonly number[] = [1 / 2, 2 / 3, 3 / 4, 1, 4 / 3, 3 / 2, 2];

/**
 * The bucket sizes a `--buckets` spec names.
 * @param spec 'auto' (one bucket per AUTO_ASPECTS ratio at about base×base pixels, sides rounded
 *   to multiples of `divisor`), or a list 'HxW,HxW,...' (height × width, e.g. '28x28,20x40').
 * @param base the base square side (the model's image size).
 * @param divisor what every side must be a multiple of (a DiT's patch, a UNet's 2^(levels − 1)).
 * @param what names the divisor in the error ("the DiT's patch size 4").
 * @returns the sizes in the spec's order, duplicates removed.
 * @throws RangeError with one line when the spec is malformed or a side is not divisible.
 */
export function parseBuckets(spec: string, base: number, divisor: number, what = `the model's divisor ${divisor}`): BucketSize[] {
  const sizes: BucketSize[] = [];
  if (spec === 'auto') {
    for (const r of AUTO_ASPECTS) {
      // H·W ≈ base², W/H ≈ r: H = base/√r, W = base·√r, each to the nearest multiple (at least one).
      const height = Math.max(divisor, Math.round(base / Math.sqrt(r) / divisor) * divisor);
      const width = Math.max(divisor, Math.round((base * Math.sqrt(r)) / divisor) * divisor);
      sizes.push({ height, width });
    }
  } else {
    for (const item of spec.split(',')) {
      const m = /^\s*(\d+)\s*[x×]\s*(\d+)\s*$/.exec(item);
      if (m === null) throw new RangeError(`--buckets: '${item}' is not HxW; give 'auto' or sizes like 28x28,20x40,40x20`);
      const height = Number(m[1]);
      const width = Number(m[2]);
      if (height < 1 || width < 1) throw new RangeError(`--buckets: ${height}x${width} has a zero side; sides must be positive multiples of ${divisor}`);
      if (height % divisor !== 0 || width % divisor !== 0) {
        throw new RangeError(`--buckets: ${height}x${width} is not divisible by ${divisor}, which ${what} needs; choose multiples of ${divisor}`);
      }
      sizes.push({ height, width });
    }
  }
  return sizes.filter((s, i) => sizes.findIndex((t) => t.height === s.height && t.width === s.width) === i);
}

/** 'HxW,HxW' for messages and `info`. */
export function formatBuckets(sizes: readonly BucketSize[]): string {
  return sizes.map((s) => `${s.height}x${s.width}`).join(',');
}

/**
 * The bucket of nearest aspect ratio, measured as |log(w/h) − log(W/H)| so that 2:1 and 1:2 are
 * equally far from 1:1. Ties go to the earlier bucket.
 * @param width the image's width.
 * @param height the image's height.
 * @param sizes the buckets.
 * @returns the bucket's index.
 */
export function nearestBucket(width: number, height: number, sizes: readonly BucketSize[]): number {
  const a = Math.log(width / height);
  let best = 0;
  let bestDist = Infinity;
  sizes.forEach((s, k) => {
    const d = Math.abs(a - Math.log(s.width / s.height));
    if (d < bestDist) {
      bestDist = d;
      best = k;
    }
  });
  return best;
}

/** Every image's bucket. */
export interface BucketPlan {
  sizes: BucketSize[];
  /** The bucket index of each dataset image. */
  assignment: Int32Array;
}

/**
 * Assigns images to buckets by their aspect ratio.
 * @param dims each image's width and height (as stored, before any resize).
 * @param sizes the buckets.
 */
export function assignBuckets(dims: readonly { width: number; height: number }[], sizes: BucketSize[]): BucketPlan {
  return { sizes, assignment: Int32Array.from(dims, (d) => nearestBucket(d.width, d.height, sizes)) };
}

/** One batch of an epoch: its bucket and its dataset indices. */
export interface BucketBatch {
  bucket: number;
  indices: number[];
}

/**
 * The batches of one epoch: each bucket's images shuffled (seeded by seed, bucket and epoch) and
 * cut into batches of `batchSize` (a bucket's last batch may be smaller, so every image is used
 * once per epoch), then the batches of all buckets in a seeded order. A pure function of
 * (assignment, batchSize, seed, epoch): a resumed loader recomputes exactly the same epoch.
 * @param plan the assignment.
 * @param batchSize images per batch.
 * @param seed the loader's seed.
 * @param epoch the epoch.
 * @param shuffle false keeps dataset order within buckets and buckets in order (deterministic runs).
 */
export function bucketEpoch(plan: BucketPlan, batchSize: number, seed: number, epoch: number, shuffle = true): BucketBatch[] {
  const members: number[][] = plan.sizes.map(() => []);
  plan.assignment.forEach((k, i) => members[k]!.push(i));
  const batches: BucketBatch[] = [];
  members.forEach((m, k) => {
    const order = shuffle ? epochPermutation(m.length, hash32(seed, k, 0xb0c4), epoch) : Uint32Array.from(m.keys());
    for (let from = 0; from < m.length; from += batchSize) {
      batches.push({ bucket: k, indices: Array.from(order.subarray(from, from + batchSize), (j) => m[j]!) });
    }
  });
  if (!shuffle) return batches;
  const order = epochPermutation(batches.length, hash32(seed, 0xba7c), epoch);
  return Array.from(order, (j) => batches[j]!);
}

/**
 * Batches per epoch (the same every epoch): Σ over buckets of ⌈members / batchSize⌉.
 * @param plan the assignment.
 * @param batchSize images per batch.
 */
export function bucketBatchesPerEpoch(plan: BucketPlan, batchSize: number): number {
  const counts = plan.sizes.map(() => 0);
  for (const k of plan.assignment) counts[k]!++;
  return counts.reduce((s, c) => s + Math.ceil(c / batchSize), 0);
}
