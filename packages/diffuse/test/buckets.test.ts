// Mixed-size training (`--buckets`): bucket sizes, nearest-aspect assignment against a hand
// computation, the bucketed loader (one shape per batch, every image once per epoch, the right
// pixels), a bucketed DiT run resumed after 2 steps equal to 4 straight steps bit for bit, and
// bad bucket sizes answered in one line with exit 2.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { assignBuckets, bucketEpoch, nearestBucket, parseBuckets, type BucketSize } from '../src/data/buckets.js';
import { ImageFolderDataset } from '../src/data/image-folder.js';
import { BatchLoader } from '../src/data/loader.js';
import { runDecodeJob } from '../src/data/decode.js';
import { writePng } from '../src/io/png.js';
import { assertResumeBitExact, assertUserError, diffuse } from './cli-helpers.js';
import { tempDir } from './io-helpers.js';

const { dir, cleanup } = tempDir('buckets');
after(cleanup);
const data = path.join(dir, 'images');
const at = (p: string): string => path.join(dir, p);

// Three shapes (width × height): 5 squares 16×16, 3 wide 24×12, 4 tall 12×24; gray noise-like pixels.
const SHAPES = [
  { width: 16, height: 16, count: 5 },
  { width: 24, height: 12, count: 3 },
  { width: 12, height: 24, count: 4 },
];
/** The buckets (height × width) a DiT with p = 2 at 8×8 trains on: square, wide, tall. */
const BUCKETS = '8x8,6x10,10x6';

before(async () => {
  mkdirSync(data, { recursive: true });
  let k = 0;
  for (const s of SHAPES) {
    for (let i = 0; i < s.count; i++, k++) {
      const px = new Uint8Array(s.width * s.height);
      for (let j = 0; j < px.length; j++) px[j] = (j * 37 + k * 91) % 256;
      await writePng(path.join(data, `img${String(k).padStart(2, '0')}.png`), { data: px, width: s.width, height: s.height, channels: 1 });
    }
  }
});

test('parseBuckets: explicit lists, auto at about the base area, sides multiples of the divisor', () => {
  assert.deepEqual(parseBuckets('28x28,20x40', 28, 4), [{ height: 28, width: 28 }, { height: 20, width: 40 }]);
  // auto at 28 with p = 4: H = round(28/√r / 4)·4, W = round(28·√r / 4)·4 for r = W/H.
  const auto = parseBuckets('auto', 28, 4);
  assert.deepEqual(auto.map((s) => `${s.height}x${s.width}`), ['40x20', '36x24', '32x24', '28x28', '24x32', '24x36', '20x40']);
  for (const s of auto) assert.ok(s.height % 4 === 0 && s.width % 4 === 0 && Math.abs(s.height * s.width - 784) / 784 < 0.15);
  assert.throws(() => parseBuckets('28x30', 28, 4), /28x30 is not divisible by 4/);
  assert.throws(() => parseBuckets('28by28', 28, 4), /'28by28' is not HxW/);
});

test('nearestBucket: nearest aspect ratio in log space, against a hand computation', () => {
  const sizes: BucketSize[] = [{ height: 8, width: 8 }, { height: 6, width: 10 }, { height: 10, width: 6 }];
  // |ln(w/h) − ln(W/H)|: for a 24×12 image (ln 2 = 0.693): square 0.693, 6×10 (ln 5/3 = 0.511) 0.182, 10×6 1.204.
  assert.equal(nearestBucket(24, 12, sizes), 1);
  assert.equal(nearestBucket(12, 24, sizes), 2);
  assert.equal(nearestBucket(16, 16, sizes), 0);
  // 13×12 (ln 1.083 = 0.080): square 0.080, 6×10 0.431: square. 16×12 (ln 4/3 = 0.288): square 0.288, 6×10 0.223: wide.
  assert.equal(nearestBucket(13, 12, sizes), 0);
  assert.equal(nearestBucket(16, 12, sizes), 1);
});

test('the bucketed loader: one shape per batch, every image once per epoch, pixels as decoded at the bucket size', async () => {
  const ds = new ImageFolderDataset(data, { size: 8, channels: 1 });
  const sizes = parseBuckets(BUCKETS, 8, 2);
  const plan = assignBuckets(await ds.imageDims(), sizes);
  assert.deepEqual(Array.from(plan.assignment), [0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2]);
  const loader = new BatchLoader(ds, { batchSize: 2, seed: 5, workers: 0, buckets: plan });
  try {
    // ⌈5/2⌉ + ⌈3/2⌉ + ⌈4/2⌉ batches
    assert.equal(loader.batchesPerEpoch, 7);
    for (let epoch = 0; epoch < 2; epoch++) {
      const seen: number[] = [];
      for (let b = 0; b < loader.batchesPerEpoch; b++) {
        const batch = await loader.next();
        const { bucket } = loader.bucketBatch(batch.epoch, batch.batch);
        assert.equal(batch.epoch, epoch);
        assert.deepEqual(batch.x.shape.slice(2), [sizes[bucket]!.height, sizes[bucket]!.width]);
        for (const i of batch.indices) assert.equal(plan.assignment[i], bucket, `image ${i} in a batch of bucket ${bucket}`);
        const first = await runDecodeJob(ds.decodeJob(batch.indices[0]!, sizes[bucket]));
        assert.deepEqual(Array.from((batch.x.data() as Float32Array).subarray(0, first.length)), Array.from(first));
        seen.push(...batch.indices);
        batch.x.dispose();
        batch.y.dispose();
      }
      assert.deepEqual(seen.sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i), `epoch ${epoch} uses every image once`);
    }
  } finally {
    await loader.close();
  }
  // The epoch is a function of (seed, epoch): recomputed equal, and another epoch differs.
  assert.deepEqual(bucketEpoch(plan, 2, 5, 1), bucketEpoch(plan, 2, 5, 1));
  assert.notDeepEqual(bucketEpoch(plan, 2, 5, 0), bucketEpoch(plan, 2, 5, 1));
});

const TINY_DIT = ['--data', data, '--channels', '1', '--model', 'dit', '--image-size', '8', '--patch-size', '2', '--hidden-size', '32', '--depth', '2', '--num-heads', '2', '--batch-size', '2', '--log-interval', '1', '--seed', '3', '--buckets', BUCKETS];
const TINY_MODEL_UNET = ['--data', data, '--channels', '1', '--image-size', '8', '--channel-mult', '1,2,2', '--model-channels', '8', '--num-res-blocks', '1', '--attention-ds', '']; // a UNet with 3 levels (sizes divisible by 4)

test('a bucketed DiT run resumed after 2 steps equals 4 straight steps bit for bit; info shows the buckets', () => {
  const straight = assertResumeBitExact(TINY_DIT, at('straight'), at('split'));
  assert.match(straight.stdout, /buckets \(height×width: images\): 8x8: 5, 6x10: 3, 10x6: 4/);
  const info = diffuse('info', at('split'));
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, /buckets 8x8,6x10,10x6/);
});

test('a UNet trains on buckets its levels divide (8×8, 4×12, 12×4 for 3 levels)', () => {
  const r = diffuse('train', ...TINY_MODEL_UNET, '--batch-size', '2', '--buckets', '8x8,4x12,12x4', '--steps', '3', '--log-interval', '1', '--out', at('unet'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /buckets \(height×width: images\): 8x8: 5, 4x12: 3, 12x4: 4/);
});

test('bad buckets: a size the patches do not divide, a malformed list, one-size data, data parallelism: one line, exit 2', () => {
  const args = TINY_DIT.slice(0, -2);
  assertUserError(diffuse('train', ...args, '--buckets', '8x8,7x10', '--steps', '1', '--out', at('bad')), /--buckets: 7x10 is not divisible by 2, which the DiT's patch size 2 needs/);
  assertUserError(diffuse('train', ...args, '--buckets', 'wide', '--steps', '1', '--out', at('bad')), /'wide' is not HxW/);
  assertUserError(diffuse('train', ...TINY_MODEL_UNET, '--buckets', '8x8,6x10', '--steps', '1', '--out', at('bad')), /6x10 is not divisible by 4, which the UNet's 3 levels/);
  assertUserError(diffuse('train', ...args.slice(2), '--data', 'mnist', '--buckets', 'auto', '--steps', '1', '--out', at('bad')), /--buckets needs a folder of images of mixed sizes/);
  assertUserError(diffuse('train', ...args, '--buckets', 'auto', '--nproc-per-node', '2', '--steps', '1', '--out', at('bad')), /--buckets does not run data-parallel yet/);
});
