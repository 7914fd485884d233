// PNG, GIF and grid writers: what sharp (libvips) decodes from our files, and make_grid's layout.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { writeFileAtomic, writeFileAtomicSync } from '../src/io/atomic.js';
import { crc32 } from '../src/io/crc32.js';
import { encodeGif, writeGif } from '../src/io/gif.js';
import { makeGrid } from '../src/io/grid.js';
import { encodePng, writePng } from '../src/io/png.js';
import type { RawImage } from '../src/io/raw-image.js';
import { tempDir } from './io-helpers.js';

function pattern(width: number, height: number, channels: number, seed = 0): RawImage {
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = (i * 97 + seed * 31 + ((i * i) % 13) * 11) % 256;
  return { data, width, height, channels };
}

test('crc32 check value', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32(Buffer.from('56789'), crc32(Buffer.from('1234'))), 0xcbf43926);
  const empty = new Uint8Array(new ArrayBuffer(0), 0, 0);
  assert.equal(crc32(empty, 0xcbf43926), 0xcbf43926); // an empty chunk continues the CRC unchanged
});

test('PNG: sharp decodes gray, gray+alpha, RGB and RGBA files back to the same bytes', async () => {
  for (const channels of [1, 2, 3, 4]) {
    const img = pattern(37, 53, channels);
    const png = encodePng(img);
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.channels, channels);
    assert.equal(meta.depth, 'uchar');
    const { data, info } = await sharp(png, { failOn: 'warning' })
      .toColourspace(channels === 1 ? 'b-w' : 'srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    // libvips shows gray+alpha as RGBA with equal R, G, B.
    const want = channels === 2 ? img.data.reduce<number[]>((a, v, i) => (i % 2 ? a.push(v) : a.push(v, v, v), a), []) : img.data;
    assert.equal(info.channels, channels === 2 ? 4 : channels);
    assert.ok(Buffer.from(want).equals(data), `${channels} channels`);
  }
});

test('PNG: bad sizes are refused', () => {
  assert.throws(() => encodePng({ data: new Uint8Array(5), width: 2, height: 2, channels: 1 }), /5 bytes for 2×2×1/);
  assert.throws(() => encodePng({ data: new Uint8Array(0), width: 0, height: 0, channels: 3 }), /positive/);
});

test('atomic writes replace files whole and leave no temp files, even on failure', async () => {
  const { dir, cleanup } = tempDir('atomic');
  try {
    const file = join(dir, 'x.png');
    await writePng(file, pattern(4, 3, 3));
    writeFileAtomicSync(join(dir, 'a.txt'), 'one');
    writeFileAtomicSync(join(dir, 'a.txt'), [Buffer.from('tw'), Buffer.from('o')]);
    await writeFileAtomic(join(dir, 'b.txt'), 'three');
    assert.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), 'two');
    assert.equal(readFileSync(join(dir, 'b.txt'), 'utf8'), 'three');
    assert.equal((await sharp(file).metadata()).width, 4);
    await assert.rejects(writeFileAtomic(join(dir, 'no', 'such', 'dir.txt'), 'x'), /ENOENT/);
    assert.throws(() => writeFileAtomicSync(join(dir, 'no', 'dir.txt'), 'x'), /ENOENT/);
    assert.deepEqual(readdirSync(dir).sort(), ['a.txt', 'b.txt', 'x.png']);
  } finally {
    cleanup();
  }
});

test('makeGrid lays images out as torchvision make_grid', () => {
  // 5 images 2×3, 1 channel, values 10·k + pixel index: nrow 3 → 3 columns, 2 rows.
  const n = 5;
  const [h, w] = [2, 3];
  const data = new Uint8Array(n * h * w);
  for (let k = 0; k < n; k++) for (let p = 0; p < h * w; p++) data[k * h * w + p] = 10 * k + p + 1;
  const g = makeGrid({ data, n, height: h, width: w, channels: 1 }, { nrow: 3, padding: 2, padValue: 255 });
  // make_grid: (h + pad) · rows + pad by (w + pad) · cols + pad.
  assert.equal(g.height, (h + 2) * 2 + 2);
  assert.equal(g.width, (w + 2) * 3 + 2);
  for (let y = 0; y < g.height; y++) {
    for (let x = 0; x < g.width; x++) {
      const row = Math.floor((y - 2) / (h + 2));
      const col = Math.floor((x - 2) / (w + 2));
      const iy = y - 2 - row * (h + 2);
      const ix = x - 2 - col * (w + 2);
      const k = row * 3 + col;
      const inside = y >= 2 && x >= 2 && iy < h && ix < w && k < n;
      assert.equal(g.data[y * g.width + x], inside ? 10 * k + iy * w + ix + 1 : 255, `(${y}, ${x})`);
    }
  }
  // One image comes back as is; RGB keeps its channels; nrow larger than n uses n columns.
  const one = makeGrid({ data: data.subarray(0, 6), n: 1, height: 2, width: 3, channels: 1 });
  assert.deepEqual([one.height, one.width, Array.from(one.data)], [2, 3, [1, 2, 3, 4, 5, 6]]);
  const rgb = makeGrid({ data: new Uint8Array(2 * 4 * 4 * 3).fill(7), n: 2, height: 4, width: 4, channels: 3 });
  assert.deepEqual([rgb.height, rgb.width, rgb.channels], [8, 14, 3]);
  assert.equal(rgb.data[(2 * 14 + 2) * 3], 7);
  assert.equal(rgb.data[0], 0);
});

test('GIF: gray frames come back exactly, with delays and looping; colour frames closely', async () => {
  const { dir, cleanup } = tempDir('gif');
  try {
    const frames = [0, 1, 2].map((s) => pattern(9, 7, 1, s));
    const file = join(dir, 'chain.gif');
    await writeGif(file, frames, { delayMs: 100, lastDelayMs: 200 });
    const meta = await sharp(file).metadata();
    assert.equal(meta.pages, 3);
    assert.deepEqual(meta.delay, [100, 100, 300]);
    assert.equal(meta.loop, 0);
    const { data } = await sharp(file, { pages: -1 }).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
    assert.ok(Buffer.from(Buffer.concat(frames.map((f) => f.data))).equals(data));
    // Few colours: the quantized palette holds them up to RGB565 precision (≤ 8 levels off).
    const rgb: RawImage = { data: new Uint8Array(8 * 8 * 3), width: 8, height: 8, channels: 3 };
    const colours = [[255, 0, 0], [0, 128, 255], [30, 200, 90], [250, 250, 250]];
    for (let i = 0; i < 64; i++) rgb.data.set(colours[i % 4]!, i * 3);
    writeFileSync(join(dir, 'rgb.gif'), encodeGif([rgb, rgb]));
    const back = await sharp(join(dir, 'rgb.gif')).removeAlpha().raw().toBuffer();
    for (let i = 0; i < rgb.data.length; i++) assert.ok(Math.abs(back[i]! - rgb.data[i]!) <= 8, `byte ${i}: ${back[i]} vs ${rgb.data[i]}`);
    assert.throws(() => encodeGif([frames[0]!, pattern(3, 3, 1)]), /frame 1 is 3×3/);
  } finally {
    cleanup();
  }
});
