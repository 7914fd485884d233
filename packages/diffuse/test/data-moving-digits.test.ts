// The moving-digits clips: deterministic per (seed, index), digits inside the canvas moving on
// the closed-form billiard path, ink conserved frame to frame, and 5-D batches from the loader.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BatchLoader } from '../src/data/loader.js';
import { loadMnistDigits } from '../src/data/mnist.js';
import { MovingDigitsDataset, movingDigitTracks } from '../src/data/moving-digits.js';

/** A coordinate moving at constant v from p0 in [0, R], reflected at 0 and R: a triangle wave of period 2R. */
function billiard(p0: number, v: number, f: number, room: number): number {
  const m = (((p0 + v * f) % (2 * room)) + 2 * room) % (2 * room);
  return m <= room ? m : 2 * room - m;
}

/** The H×W window of frame f (bytes (T, S, S)) at (x, y). */
function crop(bytes: Uint8Array, size: number, f: number, x: number, y: number, d: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) out.push(bytes[f * size * size + (y + r) * size + x + c]!);
  return out;
}

test('the same seed and index give the same clip; other indices and seeds give others', () => {
  const a = new MovingDigitsDataset({ seed: 5 });
  const b = new MovingDigitsDataset({ seed: 5 });
  assert.ok(Buffer.from(a.frameBytes(17)).equals(Buffer.from(b.frameBytes(17))));
  assert.ok(!Buffer.from(a.frameBytes(17)).equals(Buffer.from(a.frameBytes(18))));
  assert.ok(!Buffer.from(a.frameBytes(17)).equals(Buffer.from(new MovingDigitsDataset({ seed: 6 }).frameBytes(17))));
  assert.deepEqual(Array.from(a.get(3).image), Array.from(b.get(3).image));
});

test('digits stay inside the canvas on the billiard path: corner = fold(start + v·f), bouncing off the edges', () => {
  const ds = new MovingDigitsDataset({ frames: 16, size: 32, digits: 2 });
  const room = 32 - 14;
  let bounces = 0;
  for (let i = 0; i < 200; i++) {
    for (const t of movingDigitTracks(i, ds.options)) {
      assert.ok(t.vx !== 0 || t.vy !== 0, 'a digit that moves');
      assert.ok(Math.abs(t.vx) <= 3 && Math.abs(t.vy) <= 3);
      for (let f = 0; f < 16; f++) {
        assert.ok(t.x[f]! >= 0 && t.x[f]! <= room && t.y[f]! >= 0 && t.y[f]! <= room, `clip ${i} frame ${f} inside`);
        assert.equal(t.x[f], billiard(t.x[0]!, t.vx, f, room), `clip ${i} x at frame ${f}`);
        assert.equal(t.y[f], billiard(t.y[0]!, t.vy, f, room), `clip ${i} y at frame ${f}`);
        // Between bounces the corner moves by exactly the velocity.
        if (f > 0 && Math.abs(t.x[f]! - t.x[f - 1]!) !== Math.abs(t.vx)) bounces++;
      }
    }
  }
  assert.ok(bounces > 50, `the edges are reached and reflect (${bounces} bounces)`);
});

test('one digit: every frame holds the same glyph at its track position, the rest is black (ink conserved)', () => {
  const ds = new MovingDigitsDataset({ frames: 8, size: 32 });
  for (const i of [0, 1, 2, 99, 1234]) {
    const bytes = ds.frameBytes(i);
    const [t] = movingDigitTracks(i, ds.options);
    const glyph = crop(bytes, 32, 0, t!.x[0]!, t!.y[0]!, 14);
    const mass = glyph.reduce((s, v) => s + v, 0);
    assert.ok(mass > 14 * 255, 'a visible digit');
    for (let f = 0; f < 8; f++) {
      assert.deepEqual(crop(bytes, 32, f, t!.x[f]!, t!.y[f]!, 14), glyph, `clip ${i} frame ${f}: the digit moved intact`);
      const frameMass = bytes.subarray(f * 1024, (f + 1) * 1024).reduce((s, v) => s + v, 0);
      assert.equal(frameMass, mass, `clip ${i} frame ${f}: no ink outside the digit`);
    }
    assert.equal(ds.get(i).label, loadMnistDigits().labels[t!.digit], 'one digit labels the clip with its class');
  }
});

test('samples are C·T·H·W floats in [-1, 1]; the loader stacks them as (B, C, T, H, W)', async () => {
  const ds = new MovingDigitsDataset({ frames: 4, size: 20, length: 8, channels: 3 });
  assert.deepEqual([ds.length, ds.frames, ds.size, ds.channels, ds.numClasses], [8, 4, 20, 3, 10]);
  const s = ds.get(2);
  assert.equal(s.image.length, 3 * 4 * 20 * 20);
  assert.ok(s.image.every((v) => v >= -1 && v <= 1));
  const bytes = ds.frameBytes(2);
  for (let c = 0; c < 3; c++) for (let k = 0; k < bytes.length; k += 37) assert.equal(s.image[c * bytes.length + k], Math.fround(bytes[k]! / 127.5 - 1));
  const loader = new BatchLoader(ds, { batchSize: 4, shuffle: false });
  const b = await loader.next();
  assert.deepEqual(b.x.shape, [4, 3, 4, 20, 20]);
  assert.deepEqual(Array.from((b.x.data() as Float32Array).subarray(2 * s.image.length, 3 * s.image.length)), Array.from(s.image));
  b.x.dispose();
  b.y.dispose();
  await loader.close();
  assert.equal(new MovingDigitsDataset({ digits: 2 }).numClasses, 0, 'several digits: unlabelled');
});

test('options that cannot make clips are refused', () => {
  assert.throws(() => new MovingDigitsDataset({ size: 16 }), /need a canvas of at least 17, got 16/);
  assert.throws(() => new MovingDigitsDataset({ frames: 0 }), /frames must be a positive integer/);
  assert.throws(() => new MovingDigitsDataset({ channels: 2 }), /channels must be 1 or 3/);
});
