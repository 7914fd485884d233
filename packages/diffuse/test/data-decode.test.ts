// Decoding every image kind (fixtures made with sharp): values, channels, alpha, bit depth, and
// one-line DataErrors for broken files.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { decodeImage, runDecodeJob } from '../src/data/decode.js';
import { centerResize, toFloatCHW } from '../src/data/transforms.js';
import { assertDataError, rawImage as raw, solid, tempDir } from './io-helpers.js';

const { dir, cleanup } = tempDir('decode');
after(cleanup);

const f = (v: number): number => Math.fround(Math.fround(v / 127.5) - 1); // numpy's float32 x / 127.5 - 1
const file = (name: string): string => join(dir, name);

/** Every pixel of every channel of a decoded image, grouped by channel (CHW). */
function channelValues(image: Float32Array, channels: number): number[][] {
  const hw = image.length / channels;
  return Array.from({ length: channels }, (_, c) => [...new Set(image.subarray(c * hw, (c + 1) * hw))]);
}

before(async () => {
  await raw(solid(37, 53, [10, 200, 30]), 37, 53, 3).png().toFile(file('rgb.png'));
  await raw(solid(9, 9, [200, 100, 50]), 9, 9, 3).png().toFile(file('rgb-for-gray.png'));
  await raw(solid(12, 10, [90]), 12, 10, 1).toColourspace('b-w').png().toFile(file('gray.png'));
  await raw(solid(8, 8, [100, 128]), 8, 8, 2).toColourspace('b-w').png().toFile(file('gray-alpha.png'));
  await raw([200, 100, 50, 128, 200, 100, 50, 0, 200, 100, 50, 255, 9, 9, 9, 255], 2, 2, 4).png().toFile(file('rgba.png'));
  await raw(solid(8, 8, [200, 100, 50]), 8, 8, 3).png({ palette: true, colours: 2, dither: 0 }).toFile(file('palette.png'));
  // 16-bit PNGs: libvips widens 8-bit values v to v·257.
  await raw(solid(6, 6, [10, 200, 30]), 6, 6, 3).toColourspace('rgb16').png().toFile(file('rgb16.png'));
  await raw(solid(6, 6, [123]), 6, 6, 1).toColourspace('grey16').png().toFile(file('gray16.png'));
  await raw(solid(37, 53, [255, 0, 0]), 37, 53, 3).jpeg({ quality: 100 }).toFile(file('red.jpg'));
  await raw(solid(10, 10, [10, 200, 30]), 10, 10, 3).webp({ lossless: true }).toFile(file('green.webp'));
  await raw(solid(10, 10, [10, 200, 30]), 10, 10, 3).gif().toFile(file('green.gif'));
  await raw(solid(10, 10, [10, 200, 30]), 10, 10, 3).tiff().toFile(file('green.tiff'));
  await raw([250, 20, 40], 1, 1, 3).png().toFile(file('tiny.png'));
});

test('8-bit RGB PNG of odd size: a solid colour gives exact values', async () => {
  const img = await runDecodeJob({ path: file('rgb.png'), size: 8, channels: 3 });
  assert.equal(img.length, 3 * 8 * 8);
  assert.deepEqual(channelValues(img, 3), [[f(10)], [f(200)], [f(30)]]);
});

test('gray conversion uses ITU-R 601 luma (PIL "L"); gray files copy to RGB', async () => {
  // 0.299·200 + 0.587·100 + 0.114·50 = 124.2 → 124
  const l = await runDecodeJob({ path: file('rgb-for-gray.png'), size: 4, channels: 1 });
  assert.deepEqual(channelValues(l, 1), [[f(124)]]);
  const g3 = await runDecodeJob({ path: file('gray.png'), size: 10, channels: 3 });
  assert.deepEqual(channelValues(g3, 3), [[f(90)], [f(90)], [f(90)]]);
  const g1 = await runDecodeJob({ path: file('gray.png'), size: 10, channels: 1 });
  assert.deepEqual(channelValues(g1, 1), [[f(90)]]);
});

test('alpha is composited on black: c · α / 255', async () => {
  const rgba = await decodeImage(file('rgba.png'));
  assert.equal(rgba.channels, 3);
  // α = 128: 200·128/255 = 100.4, 100·128/255 = 50.2, 50·128/255 = 25.1; α = 0: black; α = 255: as is.
  assert.deepEqual(Array.from(rgba.data), [100, 50, 25, 0, 0, 0, 200, 100, 50, 9, 9, 9]);
  const ga = await decodeImage(file('gray-alpha.png'));
  assert.ok(ga.data.every((v) => v === 50)); // 100·128/255 = 50.2
});

test('palette, 16-bit, WebP, GIF and TIFF images decode to exact 8-bit RGB', async () => {
  const want = [f(10), f(200), f(30)].map((v) => [v]);
  for (const name of ['rgb16.png', 'green.webp', 'green.gif', 'green.tiff']) {
    assert.deepEqual(channelValues(await runDecodeJob({ path: file(name), size: 5, channels: 3 }), 3), want, name);
  }
  assert.deepEqual(Array.from((await decodeImage(file('palette.png'))).data.subarray(0, 3)), [200, 100, 50]);
  const meta = await Promise.all(['rgb16.png', 'gray16.png', 'palette.png'].map((n) => sharp(file(n)).metadata()));
  assert.deepEqual(meta.map((m) => [m.depth, m.channels, m.isPalette]), [['ushort', 3, false], ['ushort', 1, false], ['uchar', 3, true]]);
  assert.deepEqual(channelValues(await runDecodeJob({ path: file('gray16.png'), size: 6, channels: 1 }), 1), [[f(123)]]); // 123·257 → 123
});

test('JPEG decodes close to its colour (lossy)', async () => {
  const img = await runDecodeJob({ path: file('red.jpg'), size: 16, channels: 3 });
  const target = [255, 0, 0];
  for (let c = 0; c < 3; c++) {
    for (const v of img.subarray(c * 256, (c + 1) * 256)) assert.ok(Math.abs(v - f(target[c]!)) <= 3 / 127.5, `channel ${c}: ${v}`);
  }
});

test('images smaller than the size are upsampled (bicubic), as improved-diffusion', async () => {
  const img = await runDecodeJob({ path: file('tiny.png'), size: 8, channels: 3 });
  assert.deepEqual(channelValues(img, 3), [[f(250)], [f(20)], [f(40)]]);
  // A non-constant small image: the same as the PIL-checked pipeline on its pixels.
  const px = new Uint8Array([0, 50, 100, 150, 200, 250, 30, 60, 90, 120, 150, 180, 5, 6, 7, 8, 9, 10]);
  writeFileSync(file('small.png'), await raw(px, 3, 2, 3).png().toBuffer());
  const got = await runDecodeJob({ path: file('small.png'), size: 7, channels: 3 });
  assert.deepEqual(Array.from(got), Array.from(toFloatCHW(centerResize({ data: px, width: 3, height: 2, channels: 3 }, 7))));
});

test('broken files give one-line DataErrors naming the file', async () => {
  const png = await raw(solid(20, 20, [1, 2, 3]), 20, 20, 3).png().toBuffer();
  const jpg = await raw(solid(20, 20, [1, 2, 3]), 20, 20, 3).jpeg().toBuffer();
  writeFileSync(file('truncated.png'), png.subarray(0, png.length - 20));
  writeFileSync(file('truncated.jpg'), jpg.subarray(0, jpg.length >> 1));
  writeFileSync(file('notes.png'), 'not an image at all');
  writeFileSync(file('empty.jpg'), '');
  for (const name of ['truncated.png', 'truncated.jpg', 'notes.png', 'empty.jpg']) {
    const err = await assertDataError(() => runDecodeJob({ path: file(name), size: 8, channels: 3 }), /cannot decode image .*remove or replace the file/);
    assert.ok(err.message.startsWith(file(name)), err.message);
    assert.equal(err.path, file(name));
  }
  await assertDataError(() => decodeImage(file('gone.png')), /gone\.png: file not found/);
});
