#!/usr/bin/env node
// A folder of mixed-size images for the `--buckets` experiment of docs/dit.md (not a test): the
// bundled digits placed at a seeded random spot on black canvases of three shapes — 28×28,
// 28×42 (wide) and 42×28 (tall), height × width — one shape after another by index.
//
//   node bench/bucket-digits.mjs OUT_DIR [--n 3000]
import { mkdirSync } from 'node:fs';
import path from 'node:path';

const diffuse = await import('diffuse');

const argv = process.argv.slice(2);
const out = argv.find((a, i) => !a.startsWith('--') && argv[i - 1] !== '--n');
if (out === undefined) throw new Error('usage: node bench/bucket-digits.mjs OUT_DIR [--n 3000]');
const n = Number(argv.includes('--n') ? argv[argv.indexOf('--n') + 1] : 3000);
const CANVASES = [
  { height: 28, width: 28 },
  { height: 28, width: 42 },
  { height: 42, width: 28 },
];
const S = diffuse.MNIST_SIZE;
const { images, count } = diffuse.loadMnistDigits();
const rand = diffuse.mulberry32(2026);
mkdirSync(out, { recursive: true });
for (let i = 0; i < n; i++) {
  const { height, width } = CANVASES[i % CANVASES.length];
  const canvas = new Uint8Array(height * width);
  const digit = images.subarray((i % count) * S * S, ((i % count) + 1) * S * S);
  const top = Math.floor(rand() * (height - S + 1));
  const left = Math.floor(rand() * (width - S + 1));
  for (let y = 0; y < S; y++) canvas.set(digit.subarray(y * S, (y + 1) * S), (top + y) * width + left);
  await diffuse.writePng(path.join(out, `${String(i).padStart(5, '0')}.png`), { data: canvas, width, height, channels: 1 });
}
console.log(`${n} digits on ${CANVASES.map((c) => `${c.height}×${c.width}`).join(', ')} canvases → ${out}`);
