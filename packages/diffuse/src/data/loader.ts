// Batches for training: seeded shuffle per epoch, drop-last, a resumable position, and
// prefetching (file decoding in worker threads, a few batches ahead).
import * as torch from '@diffuse/torch';
import { DataError } from '../io/errors.js';
import { isAsyncDataset, type AnyImageDataset } from './dataset.js';
import { bucketBatchesPerEpoch, bucketEpoch, type BucketBatch, type BucketPlan } from './buckets.js';
import { epochPermutation, flipAt } from './shuffle.js';
import { hflipCHW } from './transforms.js';
import { limiter } from './limit.js';
import { DecodePool, defaultWorkerCount } from './worker-pool.js';

/** Where a loader stands: the next batch it will yield. JSON-serializable; save it with checkpoints. */
export interface LoaderPosition {
  epoch: number;
  /** Batch index within the epoch. */
  batch: number;
  /** The shuffle/flip seed; a resumed loader uses this one. */
  seed: number;
}

/** One batch. The caller owns (and disposes) x and y. */
export interface Batch {
  /** Images (B, C, H, W) float32 in [-1, 1]; clips (B, C, T, H, W) from a clip dataset. */
  x: torch.Tensor;
  /** Class labels (B,) int64; -1 for unlabeled datasets. */
  y: torch.Tensor;
  /** The position this batch was taken from. */
  epoch: number;
  batch: number;
  /** The dataset indices in the batch. */
  indices: number[];
}

export interface LoaderOptions {
  batchSize: number;
  /** Reshuffle every epoch (default true); false keeps dataset order (improved-diffusion's deterministic). */
  shuffle?: boolean;
  /** Seed for the shuffle and flips; default 0. */
  seed?: number;
  /** Drop the last incomplete batch of each epoch (default true, as improved-diffusion). */
  dropLast?: boolean;
  /** Mirror each image left-right with probability 1/2 (seeded by position, so resumable). */
  randomFlip?: boolean;
  /** Worker threads decoding files (file datasets only); default cores - 1, at least 1; 0 decodes on this thread. */
  workers?: number;
  /** Batches decoded ahead for file datasets; default 2. */
  prefetch?: number;
  /** Resume here (from a previous loader's position()). */
  position?: LoaderPosition;
  /** Device for x and y; default 'cpu'. */
  device?: torch.Device;
  /**
   * Data parallelism: this rank's rows of each global batch of `batchSize` (which worldSize
   * divides). Rank r gets rows [r·b, (r+1)·b), b = batchSize / worldSize, of the same seeded
   * order every rank computes, so the position is global and a resume with another world size
   * continues the same sequence of global batches.
   */
  shard?: { rank: number; worldSize: number };
  /**
   * Aspect-ratio buckets (file datasets, one process): each batch is drawn from one bucket and
   * its images are decoded at that bucket's height × width (data/buckets.ts); a bucket's last
   * batch of an epoch may be smaller.
   */
  buckets?: BucketPlan;
}

interface HostBatch {
  images: Float32Array;
  labels: BigInt64Array;
  height: number;
  width: number;
  epoch: number;
  batch: number;
  indices: number[];
}

/**
 * Turns a dataset into an endless stream of batches, epoch after epoch (improved-diffusion's
 * `while True: yield from loader`). Epoch e's order is a permutation seeded by (seed, e), so a
 * loader built with `position` continues with exactly the batches the saved one would have given.
 */
export class BatchLoader implements AsyncIterable<Batch> {
  /** Batches in one epoch. */
  readonly batchesPerEpoch: number;
  private readonly opts: Required<Omit<LoaderOptions, 'position' | 'workers' | 'device' | 'shard' | 'buckets'>> & { device: torch.Device };
  private readonly shard: { rank: number; worldSize: number };
  private readonly seed: number;
  private readonly pool: DecodePool | undefined;
  /** The next batch to yield, and the next to start decoding. */
  private yielded: { epoch: number; batch: number };
  private scheduled: { epoch: number; batch: number };
  private readonly queue: Promise<HostBatch>[] = [];
  private readonly perms = new Map<number, Uint32Array>();
  private readonly buckets: BucketPlan | undefined;
  private readonly bucketEpochs = new Map<number, BucketBatch[]>();
  /** Without workers, file decodes on this thread, at most a few at a time. */
  private readonly inline = limiter(4);

  /**
   * @param dataset an in-memory or file-backed dataset.
   * @param options batch size, shuffling, flips, workers, prefetch depth, resume position.
   * @throws DataError when the dataset has fewer images than one batch (with dropLast).
   */
  constructor(readonly dataset: AnyImageDataset, options: LoaderOptions) {
    const { batchSize } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`BatchLoader: batchSize must be a positive integer, got ${batchSize}`);
    this.opts = {
      batchSize,
      shuffle: options.shuffle ?? true,
      seed: options.seed ?? 0,
      dropLast: options.dropLast ?? true,
      randomFlip: options.randomFlip ?? false,
      prefetch: Math.max(1, options.prefetch ?? 2),
      device: options.device ?? 'cpu',
    };
    this.shard = options.shard ?? { rank: 0, worldSize: 1 };
    const { rank, worldSize } = this.shard;
    if (!Number.isInteger(worldSize) || worldSize < 1 || batchSize % worldSize !== 0 || !Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
      throw new RangeError(`BatchLoader: shard ${rank} of ${worldSize} does not divide the batch of ${batchSize}`);
    }
    const n = dataset.length;
    this.buckets = options.buckets;
    if (this.buckets !== undefined) {
      if (this.buckets.assignment.length !== n) throw new RangeError(`BatchLoader: ${this.buckets.assignment.length} bucket assignments for ${n} images`);
      if (!isAsyncDataset(dataset)) throw new RangeError('BatchLoader: buckets need a file dataset (images decoded to each bucket\'s size)');
      if (worldSize > 1) throw new RangeError('BatchLoader: buckets do not shard over data-parallel ranks');
    }
    this.batchesPerEpoch = this.buckets !== undefined ? bucketBatchesPerEpoch(this.buckets, batchSize) : this.opts.dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
    if (this.batchesPerEpoch === 0) {
      throw new DataError(`the dataset has ${n} images, fewer than one batch of ${batchSize}; lower the batch size or add images`);
    }
    this.seed = options.position?.seed ?? this.opts.seed;
    const start = options.position ?? { epoch: 0, batch: 0 };
    if (!Number.isInteger(start.epoch) || !Number.isInteger(start.batch) || start.epoch < 0 || start.batch < 0) {
      throw new RangeError(`BatchLoader: bad position ${JSON.stringify(options.position)}`);
    }
    // A dataset that shrank since the position was saved: go on with the next epoch.
    this.yielded = start.batch < this.batchesPerEpoch ? { epoch: start.epoch, batch: start.batch } : { epoch: start.epoch + 1, batch: 0 };
    this.scheduled = { ...this.yielded };
    const workers = options.workers ?? defaultWorkerCount();
    this.pool = isAsyncDataset(dataset) && workers > 0 ? new DecodePool(workers) : undefined;
  }

  /** The position of the next batch next() returns; pass it as `position` to resume. */
  position(): LoaderPosition {
    return { epoch: this.yielded.epoch, batch: this.yielded.batch, seed: this.seed };
  }

  /**
   * The dataset indices of a batch.
   * @param epoch the epoch.
   * @param batch the batch within the epoch.
   */
  indicesOf(epoch: number, batch: number): number[] {
    if (this.buckets !== undefined) return this.bucketBatch(epoch, batch).indices;
    const n = this.dataset.length;
    const from = batch * this.opts.batchSize;
    const to = Math.min(from + this.opts.batchSize, n);
    if (!this.opts.shuffle) return Array.from({ length: to - from }, (_, k) => from + k);
    let perm = this.perms.get(epoch);
    if (!perm) {
      perm = epochPermutation(n, this.seed, epoch);
      this.perms.set(epoch, perm);
      for (const e of this.perms.keys()) if (e < epoch - 1) this.perms.delete(e);
    }
    return Array.from(perm.subarray(from, to));
  }

  /**
   * A batch of a bucketed loader: its bucket and dataset indices.
   * @param epoch the epoch.
   * @param batch the batch within the epoch.
   */
  bucketBatch(epoch: number, batch: number): BucketBatch {
    if (this.buckets === undefined) throw new RangeError('BatchLoader: this loader has no buckets');
    let batches = this.bucketEpochs.get(epoch);
    if (!batches) {
      batches = bucketEpoch(this.buckets, this.opts.batchSize, this.seed, epoch, this.opts.shuffle);
      this.bucketEpochs.set(epoch, batches);
      for (const e of this.bucketEpochs.keys()) if (e < epoch - 1) this.bucketEpochs.delete(e);
    }
    return batches[batch]!;
  }

  private advance(p: { epoch: number; batch: number }): void {
    p.batch++;
    if (p.batch >= this.batchesPerEpoch) {
      p.epoch++;
      p.batch = 0;
    }
  }

  private async load(epoch: number, batch: number): Promise<HostBatch> {
    const ds = this.dataset;
    const local = this.opts.batchSize / this.shard.worldSize;
    const lo = this.shard.rank * local; // this rank's first row in the global batch
    const indices = this.indicesOf(epoch, batch).slice(lo, lo + local);
    const frames = ds.frames ?? 1; // a clip's C·T·H·W values; flips mirror each frame's rows alike
    const shape = this.buckets !== undefined ? this.buckets.sizes[this.bucketBatch(epoch, batch).bucket] : undefined;
    const height = shape?.height ?? ds.size;
    const width = shape?.width ?? ds.size;
    const chw = ds.channels * frames * height * width;
    const images = new Float32Array(indices.length * chw);
    const labels = new BigInt64Array(indices.length);
    const put = (k: number, image: Float32Array, label: number): void => {
      if (image.length !== chw) throw new Error(`BatchLoader: dataset gave ${image.length} values for image ${indices[k]}, expected ${chw}`);
      if (this.opts.randomFlip && flipAt(this.seed, epoch, batch * this.opts.batchSize + lo + k)) hflipCHW(image, ds.channels * frames, height, width);
      images.set(image, k * chw);
      labels[k] = BigInt(label);
    };
    if (!isAsyncDataset(ds)) {
      indices.forEach((i, k) => {
        const s = ds.get(i);
        put(k, s.image, s.label);
      });
    } else if (this.pool) {
      const pool = this.pool;
      const decoded = await Promise.all(indices.map((i) => pool.run(ds.decodeJob(i, shape))));
      decoded.forEach((image, k) => put(k, image, ds.label(indices[k]!)));
    } else {
      const samples = await Promise.all(indices.map((i) => this.inline(() => ds.getAsync(i, shape))));
      samples.forEach((s, k) => put(k, s.image, s.label));
    }
    return { images, labels, height, width, epoch, batch, indices };
  }

  // Keeps `prefetch` batches decoding ahead (file datasets; in-memory ones load on demand).
  private fill(): void {
    const depth = isAsyncDataset(this.dataset) ? this.opts.prefetch : 1;
    while (this.queue.length < depth) {
      const p = this.load(this.scheduled.epoch, this.scheduled.batch);
      p.catch(() => undefined); // surfaced by next(); never an unhandled rejection
      this.queue.push(p);
      this.advance(this.scheduled);
    }
  }

  /**
   * The next batch (epochs follow one another without end).
   * @returns x (B, C, H, W) float32 and y (B,) int64, owned by the caller.
   * @throws DataError from a file that cannot be decoded; the position stays on that batch.
   */
  async next(): Promise<Batch> {
    this.fill();
    let host: HostBatch;
    try {
      host = await this.queue.shift()!;
    } catch (err) {
      this.queue.length = 0; // drop what was prefetched; a retry starts again from this batch
      this.scheduled = { ...this.yielded };
      throw err;
    }
    this.advance(this.yielded);
    this.fill();
    const b = host.indices.length;
    const { channels: c, frames } = this.dataset;
    const shape = frames === undefined ? [b, c, host.height, host.width] : [b, c, frames, host.height, host.width];
    const x = torch.tensor(host.images, { shape, device: this.opts.device }); // (B, C, H, W), or clips (B, C, T, H, W)
    const y = torch.tensor(host.labels, { shape: [b], device: this.opts.device }); // (B,)
    return { x, y, epoch: host.epoch, batch: host.batch, indices: host.indices };
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Batch> {
    for (;;) yield await this.next();
  }

  /** Stops the worker threads (pending prefetches are dropped). */
  async close(): Promise<void> {
    this.queue.length = 0;
    await this.pool?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
