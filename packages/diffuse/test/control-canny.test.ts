// The Canny detector against OpenCV's cv2.Canny (golden/canny_gen.py): the same edge map, pixel
// for pixel, on shapes touching the border, tie-heavy plateaus, a blurred digit and noise, with
// L1 and L2 magnitudes and swapped thresholds. Integer arithmetic on both sides: exact.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { canny } from '../src/control/canny.js';

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
