// Datasets from .npz files: numpy's own file, every accepted layout, and the one-line errors.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadNpzDataset } from '../src/data/npz-dataset.js';
import { centerResize, toFloatCHW } from '../src/data/transforms.js';
import type { NpyArray } from '../src/io/npy.js';
import { writeNpz } from '../src/io/npz.js';
import { assertDataError, golden, tempDir } from './io-helpers.js';

const { dir, cleanup } = tempDir('npzds');
after(cleanup);
const f = (v: number): number => Math.fround(Math.fround(v / 127.5) - 1);
const u8 = (shape: number[], fn: (i: number) => number): NpyArray => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'uint8', shape, data: Uint8Array.from({ length: n }, (_, i) => fn(i)) };
};
async function npz(name: string, arrays: Record<string, NpyArray>): Promise<string> {
  const p = join(dir, name);
  await writeNpz(p, arrays);
  return p;
}

test('numpy\'s savez file (image_sample.py layout): uint8 NHWC + int64 labels', async () => {
  const file = golden('io_savez.npz'); // arr_0 (3, 5, 4, 3) uint8, arr_1 [2, 0, 7]
  await assertDataError(() => loadNpzDataset(file), /io_savez\.npz: images are 5×4, not square; pass a size/);
  const ds = loadNpzDataset(file, { size: 4 });
  assert.deepEqual([ds.length, ds.numClasses, ds.channels, ds.size], [3, 8, 3, 4]);
  assert.deepEqual([0, 1, 2].map((i) => ds.get(i).label), [2, 0, 7]);
  const first = Uint8Array.from({ length: 60 }, (_, i) => (i * 37 + 11) % 256);
  assert.deepEqual(Array.from(ds.get(0).image), Array.from(toFloatCHW(centerResize({ data: first, width: 4, height: 5, channels: 3 }, 4))));
});

test('uint8 NHWC is transposed to CHW and scaled; (N, H, W) is gray; channels convert', async () => {
  const file = await npz('rgb.npz', { arr_0: u8([2, 2, 2, 3], (i) => i * 9) });
  const ds = loadNpzDataset(file);
  assert.deepEqual([ds.length, ds.numClasses, ds.channels, ds.size, ds.get(1).label], [2, 0, 3, 2, -1]);
  // Image 1 starts at byte 12: HWC (y, x, c) → CHW.
  const img1 = Array.from({ length: 12 }, (_, i) => (12 + i) * 9);
  const chw = [0, 1, 2].flatMap((c) => [0, 1, 2, 3].map((p) => f(img1[p * 3 + c]!)));
  assert.deepEqual(Array.from(ds.get(1).image), chw);
  const gray = loadNpzDataset(await npz('gray.npz', { arr_0: u8([3, 5, 5], (i) => i) }));
  assert.deepEqual([gray.channels, gray.size, gray.get(2).image[0]], [1, 5, f(50)]);
  assert.equal(loadNpzDataset(file, { channels: 1 }).channels, 1);
});

test('float32/float64 NCHW in [-1, 1] pass through with labels', async () => {
  const data = Float32Array.from({ length: 2 * 1 * 3 * 3 }, (_, i) => i / 17 - 0.5);
  const file = await npz('f.npz', {
    arr_0: { dtype: 'float32', shape: [2, 1, 3, 3], data },
    arr_1: { dtype: 'int32', shape: [2], data: Int32Array.of(1, 0) },
  });
  const ds = loadNpzDataset(file);
  assert.deepEqual([ds.channels, ds.size, ds.numClasses, ds.get(0).label], [1, 3, 2, 1]);
  assert.deepEqual(Array.from(ds.get(1).image), Array.from(data.subarray(9)));
  const f64 = await npz('f64.npz', { arr_0: { dtype: 'float64', shape: [1, 3, 2, 2], data: new Float64Array(12).fill(0.25) } });
  assert.deepEqual(Array.from(loadNpzDataset(f64).get(0).image), new Array(12).fill(0.25));
});

test('wrong dtypes, shapes, labels and ranges give one-line DataErrors naming the file', async () => {
  const i32 = await npz('i32.npz', { arr_0: { dtype: 'int32', shape: [1, 2, 2, 1], data: new Int32Array(4) } });
  await assertDataError(() => loadNpzDataset(i32), /i32\.npz: arr_0 has dtype int32; images must be uint8/);
  const twoCh = await npz('two.npz', { arr_0: u8([1, 2, 2, 2], () => 0) });
  await assertDataError(() => loadNpzDataset(twoCh), /two\.npz: arr_0 is \(1, 2, 2, 2\) uint8; expected uint8 \(N, H, W, C\) with C = 1 or 3/);
  const badLabels = await npz('labels.npz', { arr_0: u8([2, 2, 2, 1], () => 0), arr_1: { dtype: 'int64', shape: [3], data: new BigInt64Array(3) } });
  await assertDataError(() => loadNpzDataset(badLabels), /labels\.npz: arr_1 \(labels\) is \(3\) int64; expected \(2,\) integers/);
  const negative = await npz('neg.npz', { arr_0: u8([2, 2, 2, 1], () => 0), arr_1: { dtype: 'int64', shape: [2], data: BigInt64Array.of(0n, -1n) } });
  await assertDataError(() => loadNpzDataset(negative), /neg\.npz: arr_1\[1\] = -1; class labels must be ≥ 0/);
  const range = await npz('range.npz', { arr_0: { dtype: 'float32', shape: [1, 1, 2, 2], data: Float32Array.of(0, 255, 3, 1) } });
  await assertDataError(() => loadNpzDataset(range), /range\.npz: float images range over \[0, 255\]; expected \[-1, 1\]/);
  const noArr0 = await npz('keys.npz', { images: u8([1, 2, 2, 1], () => 0) });
  await assertDataError(() => loadNpzDataset(noArr0), /keys\.npz: no arr_0 array \(found: images\)/);
  const empty = await npz('empty.npz', { arr_0: u8([0, 2, 2, 1], () => 0) });
  await assertDataError(() => loadNpzDataset(empty), /empty\.npz: arr_0 holds no images/);
  const fl = await npz('fl.npz', { arr_0: { dtype: 'float32', shape: [1, 1, 2, 2], data: new Float32Array(4) } });
  await assertDataError(() => loadNpzDataset(fl, { size: 4 }), /fl\.npz: float images are 1×2×2; only uint8 images can be resized/);
  await assertDataError(() => loadNpzDataset(join(dir, 'absent.npz')), /absent\.npz: no such file/);
});
