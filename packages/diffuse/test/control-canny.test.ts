// The Canny detector against OpenCV's cv2.Canny (golden/canny_gen.py): the same edge map, pixel
// for pixel, on shapes touching the border, tie-heavy plateaus, a blurred digit and noise, with
// L1 and L2 magnitudes and swapped thresholds. Integer arithmetic on both sides: exact.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { canny } from '../src/control/canny.js';
import { edgeF1 } from '../src/control/edge-f1.js';

interface CannyCase {
  height: number;
  width: number;
  low: number;
  high: number;
  l2: boolean;
  image: number[];
  edges: number[];
}
// dist/test/ -> package root -> test/golden/
const golden = JSON.parse(readFileSync(new URL('../../test/golden/canny.json', import.meta.url), 'utf8')) as { opencv: string; cases: Record<string, CannyCase> };

for (const [name, c] of Object.entries(golden.cases)) {
  test(`${name}: the edges of OpenCV ${golden.opencv}`, () => {
    const edges = canny(Uint8Array.from(c.image), c.width, c.height, { low: c.low, high: c.high, l2: c.l2 });
    const diff = [...edges].flatMap((v, i) => (v === c.edges[i] ? [] : [`(${i % c.width}, ${Math.floor(i / c.width)}): ${v} vs ${c.edges[i]}`]));
    assert.deepEqual(diff, [], `${diff.length} pixels differ`);
    assert.ok(c.edges.some((v) => v === 255) || name.startsWith('noise_200'), 'the case has edges');
  });
}

test('a flat image has no edges; a bad size is a RangeError', () => {
  assert.ok(canny(new Uint8Array(64).fill(77), 8, 8, { low: 1, high: 2 }).every((v) => v === 0));
  assert.throws(() => canny(new Uint8Array(10), 3, 3, { low: 1, high: 2 }), RangeError);
});

test('edge F1: identical maps score 1, a one-pixel shift is forgiven at tolerance 1, disjoint maps score 0', () => {
  const a = new Uint8Array(100);
  for (let y = 2; y < 8; y++) a[y * 10 + 4] = 255; // a vertical line at x = 4
  const shifted = new Uint8Array(100);
  for (let y = 2; y < 8; y++) shifted[y * 10 + 5] = 255;
  const far = new Uint8Array(100);
  far[9] = 255;
  assert.deepEqual(edgeF1(a, a, 10, 10), { precision: 1, recall: 1, f1: 1 });
  assert.equal(edgeF1(shifted, a, 10, 10).f1, 1);
  assert.equal(edgeF1(shifted, a, 10, 10, 0).f1, 0);
  assert.equal(edgeF1(far, a, 10, 10).f1, 0);
  const half = edgeF1(a.map((v, i) => (i < 50 ? v : 0)), a, 10, 10); // the top half of the line
  assert.equal(half.precision, 1);
  assert.ok(half.recall > 0.4 && half.recall < 0.8);
});
