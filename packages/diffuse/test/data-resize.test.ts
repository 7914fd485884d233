// improved-diffusion's preprocessing against PIL (test/golden/data_resize.py): bit-exact.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writePng } from '../src/io/png.js';
import { readNpzSync } from '../src/io/npz.js';
import type { RawImage } from '../src/io/raw-image.js';
import { runDecodeJob } from '../src/data/decode.js';
import { Filter, resample } from '../src/data/resample.js';
import { centerResize, roundHalfEven, toChannels, toFloatCHW } from '../src/data/transforms.js';
import { golden, tempDir } from './io-helpers.js';

interface ResizeCase {
  name: string;
  mode: 'RGB' | 'L';
  width: number;
  height: number;
  size: number;
}
const cases = (JSON.parse(readFileSync(golden('data_resize.json'), 'utf8')) as { cases: ResizeCase[] }).cases;
const expected = readNpzSync(golden('data_resize.npz'));

/** The generator's input: (x² · 7 + 13 y + 50 c + 9 · (xy mod 17)) mod 256. */
function pattern(width: number, height: number): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = (x * x * 7 + y * 13 + c * 50 + ((x * y) % 17) * 9) % 256;
    }
  }
  return { data, width, height, channels: 3 };
}

test('round() is Python 3\'s (halves to even)', () => {
  assert.deepEqual([40.5, 41.5, 0.5, 1.5, 2.4999, 2.6, 7].map(roundHalfEven), [40, 42, 0, 2, 2, 3, 7]);
});

test('centerResize (BOX halving, bicubic, centre crop) and PIL\'s RGB→L equal PIL exactly', () => {
  assert.equal(cases.length, 20);
  for (const c of cases) {
    const want = expected.get(c.name)!;
    const got = centerResize(toChannels(pattern(c.width, c.height), c.mode === 'L' ? 1 : 3), c.size);
    assert.deepEqual([got.height, got.width, got.channels], want.shape, c.name);
    assert.ok(Buffer.from(got.data).equals(want.data as Uint8Array), c.name);
  }
});

test('resample: a constant image stays constant; same size is a copy', () => {
  const flat: RawImage = { data: new Uint8Array(13 * 11 * 3).fill(77), width: 13, height: 11, channels: 3 };
  for (const filter of [Filter.BOX, Filter.BICUBIC]) {
    for (const [w, h] of [[5, 4], [29, 30], [13, 3]]) {
      const out = resample(flat, w!, h!, filter);
      assert.ok(out.data.every((v) => v === 77), `${filter} ${w}×${h}`);
    }
  }
  const same = resample(flat, 13, 11, Filter.BICUBIC);
  assert.notEqual(same.data, flat.data);
  assert.deepEqual(same.data, flat.data);
});

test('the float conversion is numpy\'s float32 x / 127.5 - 1 in CHW order', () => {
  const want = expected.get('float_RGB_37x53_16')!;
  const got = toFloatCHW(centerResize(pattern(37, 53), 16));
  assert.deepEqual(want.shape, [3, 16, 16]);
  assert.deepEqual(Array.from(got), Array.from(want.data as Float32Array));
});

test('a PNG file through sharp and the whole pipeline equals PIL', async () => {
  const { dir, cleanup } = tempDir('resize');
  try {
    for (const c of cases.filter((k) => k.width === 203 || k.width === 20)) {
      const file = join(dir, `${c.name}.png`);
      await writePng(file, pattern(c.width, c.height));
      const channels = c.mode === 'L' ? 1 : 3;
      const got = await runDecodeJob({ path: file, size: c.size, channels });
      const img = expected.get(c.name)!;
      const want = toFloatCHW({ data: img.data as Uint8Array, width: c.size, height: c.size, channels });
      assert.deepEqual(Array.from(got), Array.from(want), c.name);
    }
  } finally {
    cleanup();
  }
});
