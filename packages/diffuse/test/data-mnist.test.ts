// The bundled digits: 10,000 images with labels, checked against the mnist package's own API.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { loadMnistDigits, mnistDataset } from '../src/data/mnist.js';
import { BatchLoader } from '../src/data/loader.js';

interface MnistDigit {
  length: number;
  get(i: number): number[];
}
const pkg = createRequire(import.meta.url)('mnist') as MnistDigit[];

test('10,000 digits, labels 0–9 in the package\'s per-class counts, interleaved', () => {
  const { images, labels, count } = loadMnistDigits();
  assert.equal(count, 10000);
  assert.equal(images.length, 10000 * 28 * 28);
  const counts = new Array<number>(10).fill(0);
  for (const l of labels) counts[l]!++;
  assert.deepEqual(counts, pkg.map((d) => d.length));
  assert.deepEqual(Array.from(labels.subarray(0, 20)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('pixels equal the package\'s digit.get(j) (values k/255 to 3 decimals)', () => {
  const { images, labels } = loadMnistDigits();
  // Index k holds the j-th digit of its class, j = how many of that class came before k.
  const seenPerClass = new Array<number>(10).fill(0);
  for (let k = 0; k < 10000; k++) {
    const d = labels[k]!;
    const j = seenPerClass[d]!++;
    if (k % 997 !== 0 && k >= 30) continue; // a spread-out sample keeps this quick
    const ref = pkg[d]!.get(j);
    const ours = images.subarray(k * 784, (k + 1) * 784);
    ref.forEach((v, p) => assert.ok(Math.abs(ours[p]! / 255 - v) <= 0.0005 + 1e-12, `digit ${k} pixel ${p}: ${ours[p]} vs ${v}`));
  }
});

test('the dataset: values in [-1, 1] on the 256-level grid, background -1, options', () => {
  const ds = mnistDataset();
  assert.deepEqual([ds.length, ds.numClasses, ds.channels, ds.size], [10000, 10, 1, 28]);
  for (const i of [0, 1, 4321, 9999]) {
    const { image, label } = ds.get(i);
    assert.equal(image.length, 784);
    assert.ok(label >= 0 && label <= 9);
    assert.equal(image[0], -1); // corner pixel: background
    for (const v of image) {
      const k = Math.round((v + 1) * 127.5);
      assert.ok(k >= 0 && k <= 255 && v === Math.fround(Math.fround(k / 127.5) - 1), `${v}`);
    }
    assert.ok(Math.max(...image) > 0.9, 'a digit has ink');
  }
  const big = mnistDataset({ size: 32, channels: 3, limit: 100, labels: false });
  assert.deepEqual([big.length, big.numClasses, big.channels, big.size, big.get(5).image.length, big.get(5).label], [100, 0, 3, 32, 3 * 32 * 32, -1]);
});

test('a loader over the digits gives (64, 1, 28, 28) float32 and int64 labels', async () => {
  const loader = new BatchLoader(mnistDataset(), { batchSize: 64, seed: 0 });
  assert.equal(loader.batchesPerEpoch, 156);
  const { x, y } = await loader.next();
  assert.deepEqual([x.shape, x.dtype, y.shape, y.dtype], [[64, 1, 28, 28], 'float32', [64], 'int64']);
  const ys = Array.from(y.data() as BigInt64Array, Number);
  assert.ok(ys.every((v) => v >= 0 && v <= 9));
  const xs = x.data() as Float32Array;
  assert.ok(xs.every((v) => v >= -1 && v <= 1));
  x.dispose();
  y.dispose();
  await loader.close();
});
