// `diffuse edit | inpaint | invert | interpolate` on the shipped digits-cpu model: what each writes,
// and bad input (a mask of another size, a strength outside [0, 1], a layer path that does not
// exist, a missing file) answered with one line, exit code 2 and nothing written.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadMnistDigits, readNpzSync, writePng } from '../src/index.js';
import { assertUserError, diffuse } from './cli-helpers.js';

let dir = '';
const p = (name: string): string => path.join(dir, name);

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'diffuse-edit-'));
  const { images } = loadMnistDigits();
  const digit = (i: number): Uint8Array => images.subarray(i * 784, (i + 1) * 784);
  await writePng(p('three.png'), { data: digit(3), width: 28, height: 28, channels: 1 });
  await writePng(p('seven.png'), { data: digit(7), width: 28, height: 28, channels: 1 });
  const hole = new Uint8Array(784);
  for (let y = 8; y < 20; y++) hole.fill(255, y * 28 + 8, y * 28 + 20);
  await writePng(p('mask.png'), { data: hole, width: 28, height: 28, channels: 1 });
  await writePng(p('mask32.png'), { data: new Uint8Array(32 * 32).fill(255), width: 32, height: 32, channels: 1 });
  // A digit moving one pixel a frame.
  mkdirSync(p('frames'));
  for (let f = 0; f < 4; f++) {
    const frame = new Uint8Array(784);
    for (let y = 0; y < 28; y++) frame.set(digit(5).subarray(y * 28, y * 28 + 28 - f), y * 28 + f);
    await writePng(p(`frames/f${f}.png`), { data: frame, width: 28, height: 28, channels: 1 });
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

const M = ['--checkpoint', 'digits-cpu', '--precision', 'fp32'];

test('edit: an image and a folder of frames with cross-frame attention → images, grid, GIF', () => {
  let r = diffuse('edit', ...M, '--input', p('three.png'), '--strength', '0.4', '--steps', '5', '--out', p('e1'));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readdirSync(p('e1')).sort(), ['grid.png', 'images']);
  r = diffuse('edit', ...M, '--input', p('frames'), '--strength', '0.5', '--steps', '5', '--sampler', 'dpmpp-2m',
    '--cross-frame', '--cross-frame-layers', 'all', '--shared-noise', '--out', p('e2'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /cross-frame attention on middle_block\.1/);
  assert.match(r.stdout, /frame change .*: \d/);
  assert.deepEqual(readdirSync(p('e2')).sort(), ['frames.gif', 'grid.png', 'images']);
  assert.equal(readdirSync(p('e2/images')).length, 4);
  // K/V injection from a reference image.
  r = diffuse('edit', ...M, '--input', p('three.png'), '--reference', p('seven.png'), '--strength', '0.5', '--steps', '4', '--out', p('e3'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /K\/V of --reference/);
});

test('inpaint, invert and interpolate write their outputs', () => {
  let r = diffuse('inpaint', ...M, '--input', p('three.png'), '--mask', p('mask.png'), '--n', '2', '--sampler', 'ddpm', '--steps', '6',
    '--resamples', '2', '--jump-length', '3', '--out', p('i1'));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readdirSync(p('i1/images')).length, 2);
  r = diffuse('invert', ...M, '--input', p('frames'), '--steps', '10', '--out', p('v1'));
  assert.equal(r.code, 0, r.stderr);
  const noise = readNpzSync(p('v1/noise.npz')).get('arr_0')!;
  assert.deepEqual(noise.shape, [4, 1, 28, 28]);
  assert.equal(noise.dtype, 'float32');
  const info = JSON.parse(readFileSync(p('v1/inversion.json'), 'utf8')) as { roundTripMse: number[] };
  assert.equal(info.roundTripMse.length, 4);
  // The inverted noise samples back to the frames.
  r = diffuse('sample', ...M, '--from-noise', p('v1/noise.npz'), '--sampler', 'ddim', '--steps', '10', '--out', p('s1'));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readdirSync(p('s1/images')).length, 4);
  r = diffuse('interpolate', ...M, '--a', p('three.png'), '--b', p('seven.png'), '--n', '4', '--steps', '8', '--attention', '--out', p('m1'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /largest step/);
  assert.deepEqual(readdirSync(p('m1')).sort(), ['grid.png', 'images', 'morph.gif']);
});

test('bad input: one line, exit 2, nothing written', () => {
  const cases: [string[], RegExp][] = [
    [['inpaint', ...M, '--input', p('three.png'), '--mask', p('mask32.png')], /mask .* is 32×32 but --input .* is 28×28/],
    [['edit', ...M, '--input', p('three.png'), '--strength', '1.5'], /--strength: must be in \[0, 1\], got 1\.5/],
    [['edit', ...M, '--input', p('three.png'), '--strength', '-0.1'], /--strength: must be in \[0, 1\]/],
    [['edit', ...M, '--input', p('frames'), '--strength', '0.5', '--cross-frame', '--cross-frame-layers', 'output_blocks.9.1'], /no attention layer 'output_blocks\.9\.1'/],
    [['edit', ...M, '--input', p('frames'), '--strength', '0.5', '--cross-frame'], /no attention layer there \(it has: middle_block\.1\)/],
    [['edit', ...M, '--input', p('nothing.png'), '--strength', '0.5'], /--input .*nothing\.png: no such file/],
    [['edit', ...M, '--input', p('three.png'), '--strength', '0.5', '--reference', p('nothing.png')], /--reference .*nothing\.png: no such file/],
    [['inpaint', ...M, '--input', p('three.png'), '--mask', p('nomask.png')], /--mask .*nomask\.png: no such file/],
    [['inpaint', ...M, '--input', p('three.png'), '--mask', p('mask.png'), '--sampler', 'dpmpp-2m', '--resamples', '3'], /RePaint's jumps need --sampler ddpm or ddim/],
    [['invert', ...M, '--input', p('missing')], /no such file or folder/],
    [['invert', ...M, '--input', p('three.png'), '--sigma-max', '0.02', '--steps', '50'], /steps must be an integer in \[1, 7\], got 50/],
    [['sample', ...M, '--from-noise', p('mask.png')], /not a zip\/npz archive/],
    [['interpolate', ...M, '--a', p('three.png'), '--b', p('frames')], /one image each/],
  ];
  for (const [args, re] of cases) {
    const out = p(`bad-${cases.findIndex((c) => c[0] === args)}`);
    assertUserError(diffuse(...args, '--out', out), re);
    assert.equal(existsSync(out), false, `${args[0]} wrote ${out}`);
    assert.equal(readdirSync(dir).some((f) => f.includes('.tmp-')), false);
  }
});
