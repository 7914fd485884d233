// The batch loader: seeded epochs, drop-last, resume position, flips, worker prefetch, errors.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { U8ArrayDataset } from '../src/data/array-dataset.js';
import { ImageFolderDataset, ClassSource } from '../src/data/image-folder.js';
import { BatchLoader, type Batch, type LoaderOptions } from '../src/data/loader.js';
import { limiter } from '../src/data/limit.js';
import { hflipCHW } from '../src/data/transforms.js';
import { DataError } from '../src/io/errors.js';
import { assertDataError, tempDir } from './io-helpers.js';

const { dir, cleanup } = tempDir('loader');
after(cleanup);

// 10 RGB 4×4 images; image i holds value 20·i + pixel index, so every pixel says where it is from.
const N = 10;
const images = new Uint8Array(N * 4 * 4 * 3);
for (let i = 0; i < images.length; i++) images[i] = (Math.floor(i / 48) * 20 + (i % 48)) % 256;
const labels = Int32Array.from({ length: N }, (_, i) => i % 3);
const memory = new U8ArrayDataset({ images, n: N, height: 4, width: 4, channels: 3, labels });

interface Seen {
  indices: number[];
  epoch: number;
  batch: number;
  x: number[];
  y: bigint[];
}
async function take(loader: BatchLoader, k: number): Promise<Seen[]> {
  const out: Seen[] = [];
  for (let i = 0; i < k; i++) {
    const b: Batch = await loader.next();
    out.push({ indices: b.indices, epoch: b.epoch, batch: b.batch, x: Array.from(b.x.data() as Float32Array), y: Array.from(b.y.data() as BigInt64Array) });
    b.x.dispose();
    b.y.dispose();
  }
  return out;
}
async function run(dataset: ConstructorParameters<typeof BatchLoader>[0], options: LoaderOptions, k: number): Promise<Seen[]> {
  const loader = new BatchLoader(dataset, options);
  try {
    return await take(loader, k);
  } finally {
    await loader.close();
  }
}

test('batches: shapes, dtypes, values from the dataset, labels', async () => {
  const loader = new BatchLoader(memory, { batchSize: 3, seed: 1 });
  const b = await loader.next();
  assert.deepEqual(b.x.shape, [3, 3, 4, 4]);
  assert.equal(b.x.dtype, 'float32');
  assert.deepEqual(b.y.shape, [3]);
  assert.equal(b.y.dtype, 'int64');
  const x = b.x.data() as Float32Array;
  b.indices.forEach((i, k) => assert.deepEqual(Array.from(x.subarray(k * 48, (k + 1) * 48)), Array.from(memory.get(i).image)));
  assert.deepEqual(Array.from(b.y.data() as BigInt64Array), b.indices.map((i) => BigInt(i % 3)));
  b.x.dispose();
  b.y.dispose();
  await loader.close();
});

test('each epoch is a seeded permutation with the last partial batch dropped', async () => {
  const seen = await run(memory, { batchSize: 3, seed: 7 }, 9); // 3 batches per epoch, 3 epochs
  for (let e = 0; e < 3; e++) {
    const epoch = seen.slice(3 * e, 3 * e + 3);
    assert.deepEqual(epoch.map((s) => [s.epoch, s.batch]), [[e, 0], [e, 1], [e, 2]]);
    const idx = epoch.flatMap((s) => s.indices);
    assert.equal(new Set(idx).size, 9, 'no repeats within an epoch');
  }
  const orders = [0, 1, 2].map((e) => seen.slice(3 * e, 3 * e + 3).flatMap((s) => s.indices).join());
  assert.equal(new Set(orders).size, 3, 'epochs are shuffled differently');
  assert.deepEqual(await run(memory, { batchSize: 3, seed: 7 }, 9), seen, 'same seed, same batches');
  const other = await run(memory, { batchSize: 3, seed: 8 }, 3);
  assert.notDeepEqual(other.map((s) => s.indices), seen.slice(0, 3).map((s) => s.indices));
  const plain = await run(memory, { batchSize: 4, shuffle: false, dropLast: false }, 4);
  assert.deepEqual(plain.map((s) => s.indices), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [0, 1, 2, 3]]);
});

test('resume from a saved position gives exactly the batches that would have come', async () => {
  const full = await run(memory, { batchSize: 3, seed: 3, randomFlip: true }, 8);
  const first = new BatchLoader(memory, { batchSize: 3, seed: 3, randomFlip: true });
  await take(first, 4);
  const saved = JSON.parse(JSON.stringify(first.position())) as ReturnType<BatchLoader['position']>;
  await first.close();
  assert.deepEqual(saved, { epoch: 1, batch: 1, seed: 3 });
  // The saved seed wins over the options' seed.
  const resumed = await run(memory, { batchSize: 3, seed: 999, randomFlip: true, position: saved }, 4);
  assert.deepEqual(resumed, full.slice(4));
});

test('random flips mirror about half the images, the same way every run', async () => {
  const seen = await run(memory, { batchSize: 5, seed: 11, randomFlip: true }, 8);
  let flipped = 0;
  for (const s of seen) {
    s.indices.forEach((i, k) => {
      const got = s.x.slice(k * 48, (k + 1) * 48);
      const plain = memory.get(i).image;
      const mirror = plain.slice();
      hflipCHW(mirror, 3, 4, 4);
      const isPlain = got.every((v, j) => v === plain[j]);
      const isMirror = got.every((v, j) => v === mirror[j]);
      assert.ok(isPlain !== isMirror, 'either the image or its mirror');
      if (isMirror) flipped++;
    });
  }
  assert.ok(flipped > 8 && flipped < 32, `${flipped} of 40 flipped`);
  assert.deepEqual(await run(memory, { batchSize: 5, seed: 11, randomFlip: true }, 8), seen);
});

test('datasets smaller than a batch are refused', async () => {
  await assertDataError(() => new BatchLoader(memory, { batchSize: 11 }), /has 10 images, fewer than one batch of 11/);
  assert.equal(new BatchLoader(memory, { batchSize: 11, dropLast: false }).batchesPerEpoch, 1);
});

const FOLDER_N = 14;
before(async () => {
  for (let i = 0; i < FOLDER_N; i++) {
    const img = sharp({ create: { width: 9 + (i % 3), height: 7, channels: 3, background: { r: 10 * i, g: 255 - 10 * i, b: (i * 37) % 256 } } });
    // Vary kinds: PNG, JPEG and WebP.
    const [ext, bytes] = i % 3 === 0 ? ['png', await img.png().toBuffer()] : i % 3 === 1 ? ['jpg', await img.jpeg().toBuffer()] : ['webp', await img.webp().toBuffer()];
    writeFileSync(join(dir, `c${i % 2}_${String(i).padStart(2, '0')}.${ext}`), bytes);
  }
});

test('file datasets: worker prefetch gives the same batches as decoding on this thread', async () => {
  const ds = new ImageFolderDataset(dir, { size: 6, classes: ClassSource.PREFIX });
  const opts = { batchSize: 4, seed: 5, randomFlip: true };
  const inline = await run(ds, { ...opts, workers: 0 }, 7); // 3 batches per epoch: crosses two epoch ends
  const pooled = await run(ds, { ...opts, workers: 2, prefetch: 3 }, 7);
  assert.deepEqual(pooled, inline);
  assert.deepEqual(inline[0]!.y, inline[0]!.indices.map((i) => BigInt(Number(ds.files[i]!.split('/').pop()!.slice(1, 2)))));
  // Resuming a file dataset with workers continues identically too.
  const resumed = await run(ds, { ...opts, workers: 1, position: { epoch: 1, batch: 1, seed: 5 } }, 3);
  assert.deepEqual(resumed, inline.slice(4));
});

test('a corrupt file in a folder surfaces as a one-line DataError from next()', async () => {
  writeFileSync(join(dir, 'c0_99.png'), 'broken');
  try {
    const ds = new ImageFolderDataset(dir, { size: 6 });
    for (const workers of [0, 1]) {
      const loader = new BatchLoader(ds, { batchSize: ds.length, workers });
      const err = await assertDataError(() => loader.next(), /c0_99\.png: cannot decode image/);
      assert.ok(err instanceof DataError);
      assert.deepEqual(loader.position(), { epoch: 0, batch: 0, seed: 0 }, 'the failed batch is not skipped');
      await loader.close();
    }
  } finally {
    writeFileSync(join(dir, 'c0_99.png'), await sharp({ create: { width: 6, height: 6, channels: 3, background: '#000' } }).png().toBuffer());
  }
});

test('the decode limiter keeps at most n tasks in flight and returns each result', async () => {
  const run = limiter(2);
  let active = 0;
  let peak = 0;
  const task = (v: number) => async (): Promise<number> => {
    active++;
    peak = Math.max(peak, active);
    await new Promise((r) => setTimeout(r, 5));
    active--;
    if (v === 3) throw new Error('three');
    return v * 10;
  };
  const results = await Promise.allSettled([1, 2, 3, 4, 5].map((v) => run(task(v))));
  assert.equal(peak, 2);
  assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)), [10, 20, 'three', 40, 50]);
});
